using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using MountHotplug.Sandbox;

namespace MountHotplug.Bench;

/// <summary>
/// Compares MountHotplug with the raw system calls (small C programs) in ONE run and prints ratios, so that a noisy
/// machine moves numerator and denominator alike. Each figure is the median of several interleaved repetitions,
/// each in a fresh sandbox container. Run through bench/run.sh, which compiles the C baselines.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        // bench/syscalls.sh: only the native hot-plug loop, into a process it did not start, for strace to count.
        if (Array.IndexOf(args, "--attach-loop") is int at and >= 0)
        {
            Hotplug.NativeApi(int.Parse(args[at + 1]), args[at + 2], int.Parse(args[at + 3]), args[at + 4]);
            return 0;
        }

        // bench/profile.sh: what one system call costs through the native layer.
        if (Array.IndexOf(args, "--call-costs") is int cc and >= 0)
        {
            CallCosts.Print(int.Parse(args[cc + 1]), int.Parse(args[cc + 2]));
            return 0;
        }

        bool quick = args.Contains("--short");
        string cDir = ArgAfter(args, "--c-dir") ?? throw new ArgumentException("--c-dir DIR (the compiled C baselines) is required");
        var options = quick ? new Options(Mounts: 20, Repetitions: 2, ScaleSizes: new[] { 10, 200 }, ListSize: 500) : new Options(200, 7, new[] { 10, 1000, 10000 }, 10000);
        Busybox.EnsureInstalled();
        string source = Directory.CreateTempSubdirectory("mhp-bench-src-").FullName;
        File.WriteAllText(Path.Combine(source, "file"), "bench\n");
        var report = new Report(quick);
        try
        {
            Hotplug.Run(options, source, cDir, report);
            Listing.Run(options, source, cDir, report);
            Startup.Run(options, source, report);
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }

        report.Print();
        return report.AllTargetsHold || quick ? 0 : 1;
    }

    internal static string? ArgAfter(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}

internal sealed record Options(int Mounts, int Repetitions, int[] ScaleSizes, int ListSize);

/// <summary>Median of repeated measurements.</summary>
internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

internal static class Hotplug
{
    // Where the hot-plugs land inside the sandbox container. The issue's baseline (15 µs per mount) is the cost of the
    // mount calls; on the container's ext4 rootfs a mkdir alone costs 20-60 µs on this VM, and that disk time would
    // hide everything else. So the targets are measured on a tmpfs mounted in the container, and the rootfs figures
    // are shown beside them.
    private const string OnTmpfs = "/mnt/b";
    private const string OnRootfs = "/mnt/e";

    public static void Run(Options options, string source, string cDir, Report report)
    {
        var c = new List<double>();
        var cSafe = new List<CSteps>();
        var cThreaded = new List<CSteps>();
        var native = new List<double>();
        var nativeSteps = new List<CSteps>();
        var pipeline = new List<double>();
        var stageOnly = new List<double>();
        var moveOnly = new List<double>();
        var cRootfs = new List<double>();
        var nativeRootfs = new List<double>();
        var pipelineRootfs = new List<double>();
        var whatIfFixed = new List<double>();
        var whatIfScript = new List<double>();
        using var session = new BenchSession();

        // One untimed round first: JIT, the worker's precompilation and the engine's caches are one-time costs.
        InFreshContainer(ct => NativeApi(ct, source, options.Mounts, OnTmpfs) + session.Pipeline(ct, source, options.Mounts, OnTmpfs + "/w")
            + NativeSteps(ct, source, options.Mounts, OnTmpfs + "/s").Total);

        // The variants that are compared run in ONE container per repetition, each into its own directory, in an order
        // that rotates: a slow phase of this noisy VM then hits a pair alike, and each ratio is the median of the
        // repetitions' own ratios. The breakdowns and the ext4 rootfs figures get containers of their own.
        var nativeOverRaw = new List<double>();
        var nativeOverSafe = new List<double>();
        var nativeOverThreaded = new List<double>();
        var pipelineOverRaw = new List<double>();
        var nativeOverRawExt4 = new List<double>();
        var pipelineOverRawExt4 = new List<double>();
        for (int r = 0; r < options.Repetitions; r++)
        {
            double raw = 0, nat = 0, ps = 0;
            CSteps safe = default, threaded = default;
            InOneContainerRotated(r, OnTmpfs,
                ("raw", (ct, dir) => raw = RunC(cDir, ct, source, options.Mounts, dir, null).Total),
                ("safe", (ct, dir) => safe = RunC(cDir, ct, source, options.Mounts, dir, "safe")),
                ("thr", (ct, dir) => threaded = RunC(cDir, ct, source, options.Mounts, dir, "threaded")),
                ("net", (ct, dir) => nat = NativeApi(ct, source, options.Mounts, dir)),
                ("ps", (ct, dir) => ps = session.Pipeline(ct, source, options.Mounts, dir)));
            c.Add(raw);
            cSafe.Add(safe);
            cThreaded.Add(threaded);
            native.Add(nat);
            pipeline.Add(ps);
            nativeOverRaw.Add(nat / raw);
            nativeOverSafe.Add(nat / safe.Total);
            nativeOverThreaded.Add(nat / threaded.Total);
            pipelineOverRaw.Add(ps / raw);

            CSteps steps = default;
            InFreshContainer(ct => (steps = NativeSteps(ct, source, options.Mounts, OnTmpfs)).Total);
            nativeSteps.Add(steps);
            InFreshContainer(ct =>
            {
                (double stage, double move) = session.StageThenMove(ct, source, options.Mounts, OnTmpfs);
                stageOnly.Add(stage);
                moveOnly.Add(move);
                (double fixedTarget, double scriptTarget) = session.EngineOnly(ct, source, options.Mounts, OnTmpfs);
                whatIfFixed.Add(fixedTarget);
                whatIfScript.Add(scriptTarget);
                return 0;
            });
            double rawExt4 = 0, natExt4 = 0, psExt4 = 0;
            InOneContainerRotated(r, OnRootfs,
                ("raw", (ct, dir) => rawExt4 = RunC(cDir, ct, source, options.Mounts, dir, null).Total),
                ("net", (ct, dir) => natExt4 = NativeApi(ct, source, options.Mounts, dir)),
                ("ps", (ct, dir) => psExt4 = session.Pipeline(ct, source, options.Mounts, dir)));
            cRootfs.Add(rawExt4);
            nativeRootfs.Add(natExt4);
            pipelineRootfs.Add(psExt4);
            nativeOverRawExt4.Add(natExt4 / rawExt4);
            pipelineOverRawExt4.Add(psExt4 / rawExt4);
        }

        double cRaw = Stats.Median(c);
        double cSafeTotal = Stats.Median(cSafe.Select(x => x.Total));
        double cThreadedTotal = Stats.Median(cThreaded.Select(x => x.Total));
        double nativeMedian = Stats.Median(native);
        report.Add("hot-plug", "C loop: open_tree + mkdir + move_mount (the issue's baseline), tmpfs target", cRaw, "µs/mount", cRaw, null);
        report.Add("hot-plug", "C loop making the native layer's system calls (staging, root check, IN_ROOT resolve, verify)", cSafeTotal, "µs/mount", cRaw, null);
        report.Add("hot-plug", "  the same, move_mount handed to a namespace thread (the native layer's design)", cThreadedTotal, "µs/mount", cRaw, null);
        report.AddWithRatio("hot-plug", "Native C# API (ContainerSession.Attach after an open_tree, private, statx)", nativeMedian, "µs/mount", Stats.Median(nativeOverRaw), 1.3);
        report.AddWithRatio("hot-plug", "Cmdlet pipeline New-StagedMount | Move-MountIntoNamespace -Target { … }", Stats.Median(pipeline), "µs/mount", Stats.Median(pipelineOverRaw), 3.0);
        report.Add("hot-plug", "  of which New-StagedMount alone", Stats.Median(stageOnly), "µs/mount", cRaw, null);
        report.Add("hot-plug", "  of which Move-MountIntoNamespace alone (pre-staged mounts)", Stats.Median(moveOnly), "µs/mount", cRaw, null);
        report.Add("hot-plug", "  engine only: Move-MountIntoNamespace -WhatIf, one -Target for all (binding, ShouldProcess)", Stats.Median(whatIfFixed), "µs/mount", cRaw, null);
        report.Add("hot-plug", "  engine only: the same with -Target { … } evaluated per mount", Stats.Median(whatIfScript), "µs/mount", cRaw, null);

        // The raw loop skips what makes a hot-plug safe and verified, and it setns'es its only thread, which a .NET
        // process cannot (kernel-notes N6). Against a C loop that makes the same system calls with the same thread design, the
        // cost of .NET itself shows.
        double overThreaded = Stats.Median(nativeOverThreaded);
        report.Add("hot-plug", "Native C# API ÷ the C loop with the same system calls (median of paired ratios)", Stats.Median(nativeOverSafe), "×", null, null);
        report.Add("hot-plug", "Native C# API ÷ the C loop with the same system calls and namespace thread (median of paired ratios)", overThreaded, "×", null, null);
        report.Check("Native C# API within 1.3× of the C loop with the same system calls and namespace thread", overThreaded <= 1.3);

        // Step by step, the same system calls and thread design in C and in C#: where the difference goes.
        string[] names = { "staging: open_tree_attr (or open_tree, mount_setattr), statx", "root check: statx /proc/PID/root, pidfd", "resolve: openat2 parent, mkdirat, openat2 name, statx",
            "move_mount, handed to the namespace thread", "verify: openat2 from the root, statx", "close descriptors" };
        for (int step = 0; step < names.Length; step++)
        {
            double cStep = Stats.Median(cThreaded.Select(x => x.Step(step)));
            report.Add("step", $"{names[step]} — C", cStep, "µs/mount", cStep, null);
            report.Add("step", $"{names[step]} — C#", Stats.Median(nativeSteps.Select(x => x.Step(step))), "µs/mount", cStep, null);
        }

        report.Add("step", "move_mount on the C loop's own thread (no handoff), for comparison", Stats.Median(cSafe.Select(x => x.Step(3))), "µs/mount", null, null);

        double cRootfsMedian = Stats.Median(cRootfs);
        report.Add("rootfs", "C loop: open_tree + mkdir + move_mount, target on the container's ext4 rootfs", cRootfsMedian, "µs/mount", cRootfsMedian, null);
        report.AddWithRatio("rootfs", "Native C# API, ext4 rootfs target", Stats.Median(nativeRootfs), "µs/mount", Stats.Median(nativeOverRawExt4), null);
        report.AddWithRatio("rootfs", "Cmdlet pipeline, ext4 rootfs target", Stats.Median(pipelineRootfs), "µs/mount", Stats.Median(pipelineOverRawExt4), null);

        // Scaling: the same hot-plug into namespaces that already hold many mounts. Each repetition measures every size,
        // in an order that rotates, and the ratio is the median of the repetitions' own ratios (this VM drifts).
        var perSize = options.ScaleSizes.ToDictionary(size => size, _ => new List<double>());
        var largestOverSmallest = new List<double>();
        for (int r = 0; r < Math.Max(3, options.Repetitions - 2); r++)
        {
            var measured = new Dictionary<int, double>();
            for (int k = 0; k < options.ScaleSizes.Length; k++)
            {
                int size = options.ScaleSizes[(k + r) % options.ScaleSizes.Length];
                measured[size] = InFreshContainer(ct =>
                {
                    NativeApi(ct, source, size, "/mnt/pop");
                    GC.Collect(); // the population's garbage is not the measured hot-plugs' cost
                    return NativeApi(ct, source, options.Mounts, OnTmpfs);
                });
                perSize[size].Add(measured[size]);
            }

            largestOverSmallest.Add(measured[options.ScaleSizes[^1]] / measured[options.ScaleSizes[0]]);
        }

        double smallest = Stats.Median(perSize[options.ScaleSizes[0]]);
        foreach (int size in options.ScaleSizes)
        {
            if (size == options.ScaleSizes[^1])
            {
                report.AddWithRatio("scaling", $"Native hot-plug into a namespace already holding {size:N0} mounts (ratio: median of paired ratios)",
                    Stats.Median(perSize[size]), "µs/mount", Stats.Median(largestOverSmallest), 1.3);
            }
            else
            {
                report.Add("scaling", $"Native hot-plug into a namespace already holding {size:N0} mounts", Stats.Median(perSize[size]), "µs/mount", smallest, null);
            }
        }
    }

    /// <summary>A fresh sandbox container with a tmpfs at /mnt/b and /mnt/pop, and /mnt/e on its ext4 rootfs.</summary>
    internal static double InFreshContainer(Func<SandboxContainer, double> measure)
    {
        using SandboxContainer container = SandboxContainer.Start();
        container.ExecOrThrow("mkdir", "-p", OnTmpfs, OnRootfs, "/mnt/pop");
        container.ExecOrThrow("mount", "-t", "tmpfs", "bench", OnTmpfs);
        container.ExecOrThrow("mount", "-t", "tmpfs", "bench", "/mnt/pop");
        return measure(container);
    }

    /// <summary>
    /// Runs the variants that a ratio compares in ONE fresh container, each into its own directory below
    /// <paramref name="baseDirectory"/>, starting with a different one in each repetition.
    /// </summary>
    private static void InOneContainerRotated(int repetition, string baseDirectory, params (string Directory, Action<SandboxContainer, string> Run)[] variants)
    {
        InFreshContainer(ct =>
        {
            ct.ExecOrThrow(variants.Select(v => $"{baseDirectory}/{v.Directory}").Prepend("mkdir").ToArray());
            for (int k = 0; k < variants.Length; k++)
            {
                var (directory, run) = variants[(k + repetition) % variants.Length];
                run(ct, $"{baseDirectory}/{directory}");
            }

            return 0;
        });
    }

    /// <summary>Per-mount cost in µs, in total and (for the C loop with the native layer's calls) by step.</summary>
    internal readonly record struct CSteps(double Total, double[] Steps)
    {
        public double Step(int i) => Steps[i];
    }

    /// <param name="mode">null: the raw loop; "safe": the native layer's system calls; "threaded": those with a namespace thread.</param>
    private static CSteps RunC(string cDir, SandboxContainer container, string source, int count, string directory, string? mode)
    {
        string[] arguments = { container.Pid.ToString(), source, count.ToString(), directory };
        string output = Processes.Run(Path.Combine(cDir, "hotplug_loop"), mode is null ? arguments : arguments.Append(mode).ToArray());

        double[] ns = output.Trim().Split(' ').Select(double.Parse).ToArray();
        return new CSteps(ns[0] / 1000.0, ns.Skip(1).Select(v => v / 1000.0).ToArray());
    }

    /// <summary>The native layer alone: what a .NET program (not PowerShell) pays per mount, staging included.</summary>
    internal static double NativeApi(SandboxContainer container, string source, int count, string directory) =>
        NativeApi(container.Pid, source, count, directory);

    internal static double NativeApi(int pid, string source, int count, string directory)
    {
        using ContainerNamespace ns = ContainerNamespace.Open(pid);
        var stopwatch = Stopwatch.StartNew();
        {
            ContainerSession mounter = ns.Session;
            for (int i = 0; i < count; i++)
            {
                using StagedMount staged = StagedMount.Clone(source, new CloneOptions());
                mounter.Attach(staged, $"{directory}/m{i}", new AttachOptions { CreateTarget = true });
            }
        }

        return stopwatch.Elapsed.TotalMicroseconds / count;
    }

    /// <summary>
    /// ContainerSession.Attach's steps made one by one from the native layer's public parts (the same calls, in the same
    /// order, as hotplug_loop's safe mode), each timed: where a .NET hot-plug spends what the C loop does not.
    /// </summary>
    private static CSteps NativeSteps(SandboxContainer container, string source, int count, string directory)
    {
        using ContainerNamespace ns = ContainerNamespace.Open(container.Pid);
        SafePidfdHandle pidfd = ns.Pidfd;
        using SafePathHandle root = ContainerSession.OpenProcessRoot(ns, directory);
        StatxInfo rootInfo = MountSyscalls.Statx(root);
        string rootPath = $"/proc/{container.Pid}/root";
        using NamespaceWorker worker = NamespaceWorker.Enter(pidfd);
        IReadOnlyList<string> parent = TargetPath.TrySplit(directory, out _)!;
        long[] ticks = new long[6];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            StagedMount staged = StagedMount.Clone(source, new CloneOptions());
            SafeMountHandle mount = staged.Handle;
            StatxInfo info = staged.Info;
            long t1 = Stopwatch.GetTimestamp();

            if (MountSyscalls.TryStatxPath(rootPath, true, out StatxInfo now) != 0 || now.Inode != rootInfo.Inode || !MountSyscalls.IsAlive(pidfd))
            {
                throw new InvalidOperationException("the container's root changed or it exited");
            }

            long t2 = Stopwatch.GetTimestamp();
            var components = new List<string>(parent) { $"m{i}" };
            ContainerTarget target = ContainerTarget.Resolve(root, components, create: true, lastIsDirectory: true);
            long t3 = Stopwatch.GetTimestamp();

            int errno = worker.TryMoveMount(mount, target.Handle, MoveMountFlags.None);
            if (errno != 0)
            {
                throw new InvalidOperationException($"move_mount: errno {errno}");
            }

            long t4 = Stopwatch.GetTimestamp();
            using (SafePathHandle again = MountSyscalls.OpenAt2(root, target.Path, ContainerTarget.LastComponent, ContainerTarget.InRoot))
            {
                if (MountSyscalls.Statx(again).MountId != info.MountId)
                {
                    throw new InvalidOperationException("verify: mount id differs");
                }
            }

            long t5 = Stopwatch.GetTimestamp();
            target.Dispose();
            staged.Dispose();
            long t6 = Stopwatch.GetTimestamp();
            ticks[0] += t1 - t0; ticks[1] += t2 - t1; ticks[2] += t3 - t2; ticks[3] += t4 - t3; ticks[4] += t5 - t4; ticks[5] += t6 - t5;
        }

        double PerMount(long t) => t * 1e6 / Stopwatch.Frequency / count;
        return new CSteps(PerMount(Stopwatch.GetTimestamp() - start), ticks.Select(PerMount).ToArray());
    }
}

/// <summary>Listing a namespace that holds many mounts: Get-Mount against findmnt and a raw listmount + statmount loop.</summary>
internal static class Listing
{
    public static void Run(Options options, string source, string cDir, Report report)
    {
        using SandboxContainer container = SandboxContainer.Start();
        container.ExecOrThrow("mkdir", "-p", "/mnt/pop");
        container.ExecOrThrow("mount", "-t", "tmpfs", "bench", "/mnt/pop");
        Hotplug.NativeApi(container, source, options.ListSize, "/mnt/pop");
        int repetitions = Math.Max(3, options.Repetitions);

        // The hot-plug runs before left writeback and container teardown behind; let it settle, then measure the four
        // readers in turn in each repetition and pair them, as the hot-plug figures are.
        Processes.Run("sync");
        Thread.Sleep(1000);
        using var session = new BenchSession();
        session.Evaluate("param($p) @(Get-Mount -ProcessId $p).Count", container.Pid); // warm-up
        NativeRead(container.Pid);
        var c = new List<double>();
        var native = new List<double>();
        var findmnt = new List<double>();
        var getMount = new List<double>();
        int count = 0;
        for (int r = 0; r < repetitions; r++)
        {
            (count, double cMs) = RawLoop(cDir, container.Pid, 1);
            c.Add(cMs);
            native.Add(NativeRead(container.Pid));
            findmnt.Add(Findmnt(container.Pid));
            getMount.Add(session.Evaluate("""
                param($p)
                [GC]::Collect()
                $sw = [System.Diagnostics.Stopwatch]::StartNew()
                $timed = Get-Mount -ProcessId $p
                $sw.Elapsed.TotalMilliseconds
                $timed = $null
                """, container.Pid));
        }

        double Paired(List<double> numerator, List<double> denominator) => Stats.Median(numerator.Zip(denominator, (n, d) => n / d));
        double cMedian = Stats.Median(c);
        double speedUp = Paired(findmnt, getMount);
        double bytesPerMount = session.Evaluate("""
            param($p)
            $all = $null
            $before = [GC]::GetTotalMemory($true)
            $all = Get-Mount -ProcessId $p
            $after = [GC]::GetTotalMemory($true)
            ($after - $before) / $all.Count
            $all = $null
            """, container.Pid);

        report.Add("listing", $"C listmount + statmount loop, {count:N0} mounts", cMedian, "ms", cMedian, null);
        report.AddWithRatio("listing", $"Native MountTable.Read (no PowerShell), {count:N0} mounts", Stats.Median(native), "ms", Paired(native, c), null);
        report.AddWithRatio("listing", $"findmnt -J -N PID, {count:N0} mounts", Stats.Median(findmnt), "ms", Paired(findmnt, c), null);
        report.AddWithRatio("listing", $"Get-Mount -ProcessId PID (objects in the engine), {count:N0} mounts", Stats.Median(getMount), "ms", Paired(getMount, c), 2.0);
        report.Add("listing", "findmnt -J ÷ Get-Mount (speed-up, median of paired ratios; target ≥ 20×)", speedUp, "×", null, null);
        report.Add("memory", "Managed memory per listed Mount object", bytesPerMount, "bytes", null, null);
        report.Check("Get-Mount at least 20× faster than findmnt -J", speedUp >= 20);
    }

    private static double NativeRead(int pid)
    {
        using SafePidfdHandle pidfd = MountSyscalls.PidfdOpen(pid);

        // Each repetition starts from a collected heap, so that it pays for its own garbage and not for the bench's.
        GC.Collect();
        var stopwatch = Stopwatch.StartNew();
        int count = MountTable.Read(pidfd, pid).Count;
        double ms = stopwatch.Elapsed.TotalMilliseconds;
        GC.KeepAlive(count);
        return ms;
    }

    private static (int Count, double BestMs) RawLoop(string cDir, int pid, int repetitions)
    {
        string output = Processes.Run(Path.Combine(cDir, "listmount_loop"), pid.ToString(), repetitions.ToString());
        string[] parts = output.Trim().Split(' ');
        return (int.Parse(parts[0]), double.Parse(parts[1]) / 1e6);
    }

    private static double Findmnt(int pid)
    {
        var stopwatch = Stopwatch.StartNew();
        Processes.Run("findmnt", "-J", "-N", pid.ToString());
        return stopwatch.Elapsed.TotalMilliseconds;
    }
}

/// <summary>Runs a program to its end; its output, or an exception with its standard error.</summary>
internal static class Processes
{
    public static string Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        using Process process = Process.Start(info)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed: {error.Result}");
        }

        return output;
    }
}

/// <summary>A runspace of the real engine with the module, as the tests host it.</summary>
internal sealed class BenchSession : IDisposable
{
    private readonly Runspace _runspace;

    public BenchSession()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { Path.Combine(AppContext.BaseDirectory, "MountHotplug.psd1") });
        _runspace = RunspaceFactory.CreateRunspace(iss);
        _runspace.Open();
    }

    public double Pipeline(SandboxContainer container, string source, int count, string directory)
    {
        var output = Invoke("""
            param($ctPid, $src, $n, $dir)
            $ct = Get-ContainerNamespace $ctPid
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            New-StagedMount -Path (@($src) * $n) |
                Move-MountIntoNamespace -Namespace $ct -Target { $dir + '/m' + $_.MountId } -CreateTarget
            $sw.Elapsed.TotalMicroseconds / $n
            $ct.Dispose()
            """, container.Pid, source, count, directory);
        return Convert.ToDouble(output[^1].BaseObject);
    }

    /// <summary>The pipeline's two halves timed apart: New-StagedMount into a variable, then Move-MountIntoNamespace from it.</summary>
    public (double Stage, double Move) StageThenMove(SandboxContainer container, string source, int count, string directory)
    {
        var output = Invoke("""
            param($ctPid, $src, $n, $dir)
            $ct = Get-ContainerNamespace $ctPid
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $staged = New-StagedMount -Path (@($src) * $n)
            $sw.Elapsed.TotalMicroseconds / $n
            $sw.Restart()
            $staged | Move-MountIntoNamespace -Namespace $ct -Target { $dir + '/s' + $_.MountId } -CreateTarget
            $sw.Elapsed.TotalMicroseconds / $n
            $ct.Dispose()
            """, container.Pid, source, count, directory);
        return (Convert.ToDouble(output[^2].BaseObject), Convert.ToDouble(output[^1].BaseObject));
    }

    /// <summary>
    /// What the engine alone costs per mount, no system call made: Move-MountIntoNamespace -WhatIf with one -Target for
    /// every mount, then with a -Target script block evaluated for each.
    /// </summary>
    public (double FixedTarget, double ScriptTarget) EngineOnly(SandboxContainer container, string source, int count, string directory)
    {
        var output = Invoke("""
            param($ctPid, $src, $n, $dir)
            $ct = Get-ContainerNamespace $ctPid
            $staged = New-StagedMount -Path (@($src) * $n)
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $staged | Move-MountIntoNamespace -Namespace $ct -Target "$dir/one" -CreateTarget -WhatIf
            $sw.Elapsed.TotalMicroseconds / $n
            $sw.Restart()
            $staged | Move-MountIntoNamespace -Namespace $ct -Target { $dir + '/w' + $_.MountId } -CreateTarget -WhatIf
            $sw.Elapsed.TotalMicroseconds / $n
            $staged | ForEach-Object { $_.Dispose() }
            $ct.Dispose()
            """, container.Pid, source, count, directory);
        return (Convert.ToDouble(output[^2].BaseObject), Convert.ToDouble(output[^1].BaseObject));
    }

    private System.Collections.ObjectModel.Collection<PSObject> Invoke(string script, params object[] arguments)
    {
        using PowerShell ps = PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript(script);
        foreach (object argument in arguments)
        {
            ps.AddArgument(argument);
        }

        var output = ps.Invoke();
        if (ps.HadErrors)
        {
            throw new InvalidOperationException("script failed: " + string.Join("; ", ps.Streams.Error));
        }

        return output;
    }

    public double Evaluate(string script, params object[] arguments) => Convert.ToDouble(Invoke(script, arguments)[^1].BaseObject);

    public void Dispose() => _runspace.Dispose();
}

internal static class Startup
{
    public static void Run(Options options, string source, Report report)
    {
        var bare = new List<double>();
        var withModule = new List<double>();
        var first = new List<double>();
        for (int r = 0; r < options.Repetitions; r++)
        {
            bare.Add(OpenRunspace(withModule: false, out _));
            withModule.Add(OpenRunspace(withModule: true, out double firstCommand));
            first.Add(firstCommand);
        }

        double bareMs = Stats.Median(bare);
        report.Add("startup", "Runspace.Open() without the module", bareMs, "ms", bareMs, null);
        report.Add("startup", "Runspace.Open() with Import-Module MountHotplug", Stats.Median(withModule), "ms", bareMs, null);
        report.Add("startup", "First command in a fresh runspace (Get-ContainerNamespace -ProcessId $PID)", Stats.Median(first), "ms", null, null);

        // Memory per StagedMount as a session holds them: 1,000 detached clones in a variable.
        using var session = new BenchSession();
        double perMount = session.Evaluate("""
            param($src)
            $before = [GC]::GetTotalMemory($true)
            $held = 1..1000 | ForEach-Object { New-StagedMount $src }
            $after = [GC]::GetTotalMemory($true)
            ($after - $before) / 1000
            $held | ForEach-Object { $_.Dispose() }
            $held = $null
            """, source);
        report.Add("memory", "Managed memory per StagedMount held in a session (1,000 held)", perMount, "bytes", null, null);
    }

    private static double OpenRunspace(bool withModule, out double firstCommandMs)
    {
        var stopwatch = Stopwatch.StartNew();
        var iss = InitialSessionState.CreateDefault2();
        if (withModule)
        {
            iss.ImportPSModule(new[] { Path.Combine(AppContext.BaseDirectory, "MountHotplug.psd1") });
        }

        using Runspace runspace = RunspaceFactory.CreateRunspace(iss);
        runspace.Open();
        double openMs = stopwatch.Elapsed.TotalMilliseconds;
        firstCommandMs = 0;
        if (withModule)
        {
            stopwatch.Restart();
            using PowerShell ps = PowerShell.Create();
            ps.Runspace = runspace;
            ps.AddScript("(Get-ContainerNamespace -ProcessId $PID -WarningAction SilentlyContinue).Dispose()").Invoke();
            firstCommandMs = stopwatch.Elapsed.TotalMilliseconds;
        }

        return openMs;
    }
}

/// <summary>Collects figures and prints them as a markdown table with ratios and target verdicts.</summary>
internal sealed class Report
{
    private readonly bool _quick;
    private readonly List<(string Group, string Name, double Value, string Unit, double? Ratio, double? Target)> _rows = new();

    public Report(bool quick) => _quick = quick;

    private readonly List<(string Name, bool Holds)> _checks = new();

    public bool AllTargetsHold => _rows.All(r => r.Target is null || r.Ratio is null || r.Ratio.Value <= r.Target.Value)
        && _checks.All(c => c.Holds);

    /// <summary>A target that is not a ratio to a baseline row.</summary>
    public void Check(string name, bool holds) => _checks.Add((name, holds));

    /// <summary>A figure with its ratio to <paramref name="baseline"/> (a value in the same unit).</summary>
    public void Add(string group, string name, double value, string unit, double? baseline, double? target) =>
        _rows.Add((group, name, value, unit, baseline is { } b && b > 0 ? value / b : null, target));

    /// <summary>A figure with a ratio worked out elsewhere (the median of paired ratios).</summary>
    public void AddWithRatio(string group, string name, double value, string unit, double ratio, double? target) =>
        _rows.Add((group, name, value, unit, ratio, target));

    public void Print()
    {
        Console.WriteLine(_quick ? "MountHotplug bench (SHORT mode: too few repetitions for the record; targets not enforced)" : "MountHotplug bench");
        Console.WriteLine($"machine: {Environment.ProcessorCount} CPUs, {Environment.OSVersion}, .NET {Environment.Version}, {DateTime.UtcNow:u}");
        Console.WriteLine();
        Console.WriteLine("| group | measurement | value | ratio | target | holds |");
        Console.WriteLine("|---|---|---:|---:|---:|---|");
        foreach (var row in _rows)
        {
            string ratio = row.Ratio is { } r ? $"{r:0.00}×" : "";
            string target = row.Target is { } t ? $"≤ {t:0.0}×" : "";
            string holds = row.Target is { } t2 && row.Ratio is { } r2 ? (r2 <= t2 ? "yes" : "NO") : "";
            string value = row.Unit == "×" ? $"{row.Value:0.00}×" : $"{row.Value:0.0} {row.Unit}";
            Console.WriteLine($"| {row.Group} | {row.Name.Replace("|", "\\|")} | {value} | {ratio} | {target} | {holds} |");
        }

        foreach (var check in _checks)
        {
            Console.WriteLine($"| target | {check.Name} | | | | {(check.Holds ? "yes" : "NO")} |");
        }
    }
}
