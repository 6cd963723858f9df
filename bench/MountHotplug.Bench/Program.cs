using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using MountHotplug.Native;
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
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

internal static class Hotplug
{
    public static void Run(Options options, string source, string cDir, Report report)
    {
        var c = new List<double>();
        var cSafe = new List<double>();
        var native = new List<double>();
        var pipeline = new List<double>();
        using var session = new BenchSession();

        // One untimed round first: JIT, the worker's precompilation and the engine's caches are one-time costs.
        InFreshContainer(ct => NativeApi(ct, source, options.Mounts, "/mnt/b/m"));
        InFreshContainer(ct => session.Pipeline(ct, source, options.Mounts));

        // Interleaved, so that a burst of load hits every variant alike.
        for (int r = 0; r < options.Repetitions; r++)
        {
            c.Add(InFreshContainer(ct => RunC(cDir, ct, source, options.Mounts, safe: false)));
            cSafe.Add(InFreshContainer(ct => RunC(cDir, ct, source, options.Mounts, safe: true)));
            native.Add(InFreshContainer(ct => NativeApi(ct, source, options.Mounts, "/mnt/b/m")));
            pipeline.Add(InFreshContainer(ct => session.Pipeline(ct, source, options.Mounts)));
        }

        double cRaw = Stats.Median(c);
        report.Add("hot-plug", "C loop: open_tree + mkdir + move_mount (the issue's baseline)", Stats.Median(c), "µs/mount", cRaw, null);
        report.Add("hot-plug", "C loop with MountHotplug's safety steps (private, openat2 IN_ROOT, verify)", Stats.Median(cSafe), "µs/mount", cRaw, null);
        report.Add("hot-plug", "Native C# API (ContainerMounter.Attach)", Stats.Median(native), "µs/mount", cRaw, 1.3);
        report.Add("hot-plug", "Cmdlet pipeline New-StagedMount | Move-MountIntoNamespace", Stats.Median(pipeline), "µs/mount", cRaw, 3.0);

        // The raw loop skips what makes a hot-plug safe and verified; against a C loop that does the same steps the
        // native layer's own overhead shows.
        double cSafeMedian = Stats.Median(cSafe);
        report.Add("hot-plug", "Native C# API ÷ the C loop with the same safety steps", Stats.Median(native) / cSafeMedian, "×", null, null);
        report.Check("Native C# API within 1.3× of the C loop doing the same steps", Stats.Median(native) / cSafeMedian <= 1.3);

        // Scaling: the same hot-plug into namespaces that already hold many mounts.
        var perSize = new Dictionary<int, List<double>>();
        foreach (int size in options.ScaleSizes)
        {
            perSize[size] = new List<double>();
        }

        for (int r = 0; r < Math.Max(3, options.Repetitions / 2); r++)
        {
            foreach (int size in options.ScaleSizes)
            {
                perSize[size].Add(InFreshContainer(ct =>
                {
                    NativeApi(ct, source, size, "/mnt/pop/p");
                    NativeApi(ct, source, 20, "/mnt/pop/w"); // settle: the first mounts after a start pay for writeback
                    return NativeApi(ct, source, options.Mounts, "/mnt/b/m");
                }));
            }
        }

        double smallest = Stats.Median(perSize[options.ScaleSizes[0]]);
        foreach (int size in options.ScaleSizes)
        {
            report.Add("scaling", $"Native hot-plug into a namespace already holding {size:N0} mounts", Stats.Median(perSize[size]), "µs/mount",
                smallest, size == options.ScaleSizes[^1] ? 1.3 : null);
        }
    }

    private static double InFreshContainer(Func<SandboxContainer, double> measure)
    {
        using SandboxContainer container = SandboxContainer.Start();
        container.ExecOrThrow("mkdir", "-p", "/mnt/b", "/mnt/pop");
        return measure(container);
    }

    private static double RunC(string cDir, SandboxContainer container, string source, int count, bool safe)
    {
        var info = new ProcessStartInfo(Path.Combine(cDir, "hotplug_loop")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { container.Pid.ToString(), source, count.ToString(), "/mnt/b/m" })
        {
            info.ArgumentList.Add(a);
        }

        if (safe)
        {
            info.ArgumentList.Add("safe");
        }

        // The C program's own paths resolve in the container (it setns'es): give it the container's view of /mnt/b.
        using Process process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"hotplug_loop failed: {error}");
        }

        return double.Parse(output.Trim()) / 1000.0;
    }

    /// <summary>The native layer alone: what a .NET program (not PowerShell) pays per mount.</summary>
    internal static double NativeApi(SandboxContainer container, string source, int count, string prefix)
    {
        using SafePidfdHandle pidfd = MountSyscalls.PidfdOpen(container.Pid);
        var stopwatch = Stopwatch.StartNew();
        using (var mounter = new ContainerMounter(pidfd, container.Pid))
        {
            for (int i = 0; i < count; i++)
            {
                using SafeMountHandle mount = MountSyscalls.OpenTree(null, source, OpenTreeFlags.Clone);
                MountSyscalls.MountSetAttr(mount, MountAttributes.None, MountAttributes.None, MountPropagation.Private, recursive: false);
                StatxInfo info = MountSyscalls.Statx(mount);
                mounter.Attach(mount, info, prefix + i, createTarget: true, allowStacking: false);
            }
        }

        return stopwatch.Elapsed.TotalMicroseconds / count;
    }
}

/// <summary>Listing a namespace that holds many mounts: Get-Mount against findmnt and a raw listmount + statmount loop.</summary>
internal static class Listing
{
    public static void Run(Options options, string source, string cDir, Report report)
    {
        using SandboxContainer container = SandboxContainer.Start();
        container.ExecOrThrow("mkdir", "-p", "/mnt/pop");
        Hotplug.NativeApi(container, source, options.ListSize, "/mnt/pop/p");
        int repetitions = Math.Max(3, options.Repetitions);

        (int count, double cBest) = RawLoop(cDir, container.Pid, repetitions);
        double native = Enumerable.Range(0, repetitions + 1).Select(_ => NativeRead(container.Pid)).Skip(1).Min();
        double findmnt = Enumerable.Range(0, repetitions).Min(_ => Findmnt(container.Pid));
        using var session = new BenchSession();
        session.Evaluate("param($p) @(Get-Mount -ProcessId $p).Count", container.Pid); // warm-up
        double getMount = Enumerable.Range(0, repetitions).Min(_ => session.Evaluate("""
            param($p)
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $timed = Get-Mount -ProcessId $p
            $sw.Elapsed.TotalMilliseconds
            $timed = $null
            """, container.Pid));
        double bytesPerMount = session.Evaluate("""
            param($p)
            $all = $null
            $before = [GC]::GetTotalMemory($true)
            $all = Get-Mount -ProcessId $p
            $after = [GC]::GetTotalMemory($true)
            ($after - $before) / $all.Count
            $all = $null
            """, container.Pid);

        report.Add("listing", $"C listmount + statmount loop, {count:N0} mounts", cBest, "ms", cBest, null);
        report.Add("listing", $"Native MountTable.Read (no PowerShell), {count:N0} mounts", native, "ms", cBest, null);
        report.Add("listing", $"findmnt -J -N PID, {count:N0} mounts", findmnt, "ms", cBest, null);
        report.Add("listing", $"Get-Mount -ProcessId PID (objects in the engine), {count:N0} mounts", getMount, "ms", cBest, 2.0);
        report.Add("listing", "findmnt -J ÷ Get-Mount (speed-up; target ≥ 20×)", findmnt / getMount, "×", null, null);
        report.Add("memory", "Managed memory per listed Mount object", bytesPerMount, "bytes", null, null);
        report.Check("Get-Mount at least 20× faster than findmnt -J", findmnt / getMount >= 20);
    }

    private static double NativeRead(int pid)
    {
        using SafePidfdHandle pidfd = MountSyscalls.PidfdOpen(pid);
        var stopwatch = Stopwatch.StartNew();
        int count = MountTable.Read(pidfd, pid).Count;
        double ms = stopwatch.Elapsed.TotalMilliseconds;
        GC.KeepAlive(count);
        return ms;
    }

    private static (int Count, double BestMs) RawLoop(string cDir, int pid, int repetitions)
    {
        string output = Run(Path.Combine(cDir, "listmount_loop"), pid.ToString(), repetitions.ToString());
        string[] parts = output.Trim().Split(' ');
        return (int.Parse(parts[0]), double.Parse(parts[1]) / 1e6);
    }

    private static double Findmnt(int pid)
    {
        var stopwatch = Stopwatch.StartNew();
        Run("findmnt", "-J", "-N", pid.ToString());
        return stopwatch.Elapsed.TotalMilliseconds;
    }

    private static string Run(string file, params string[] arguments)
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

    public double Pipeline(SandboxContainer container, string source, int count)
    {
        using PowerShell ps = PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript("""
            param($ctPid, $src, $n)
            $ct = Get-ContainerNamespace $ctPid
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            New-StagedMount -Path (@($src) * $n) |
                Move-MountIntoNamespace -Namespace $ct -Target { "/mnt/b/m$($_.MountId)" } -CreateTarget
            $sw.Elapsed.TotalMicroseconds / $n
            $ct.Dispose()
            """).AddArgument(container.Pid).AddArgument(source).AddArgument(count);
        var output = ps.Invoke();
        if (ps.HadErrors)
        {
            throw new InvalidOperationException("pipeline failed: " + string.Join("; ", ps.Streams.Error));
        }

        return Convert.ToDouble(output.Last().BaseObject);
    }

    public double Evaluate(string script, params object[] arguments)
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

        return Convert.ToDouble(output.Last().BaseObject);
    }

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
    private readonly List<(string Group, string Name, double Value, string Unit, double? Baseline, double? Target)> _rows = new();

    public Report(bool quick) => _quick = quick;

    private readonly List<(string Name, bool Holds)> _checks = new();

    public bool AllTargetsHold => _rows.All(r => r.Target is null || r.Baseline is null || r.Value / r.Baseline.Value <= r.Target.Value)
        && _checks.All(c => c.Holds);

    /// <summary>A target that is not a ratio to a baseline row.</summary>
    public void Check(string name, bool holds) => _checks.Add((name, holds));

    public void Add(string group, string name, double value, string unit, double? baseline, double? target) =>
        _rows.Add((group, name, value, unit, baseline, target));

    public void Print()
    {
        Console.WriteLine(_quick ? "MountHotplug bench (SHORT mode: too few repetitions for the record; targets not enforced)" : "MountHotplug bench");
        Console.WriteLine($"machine: {Environment.ProcessorCount} CPUs, {Environment.OSVersion}, .NET {Environment.Version}, {DateTime.UtcNow:u}");
        Console.WriteLine();
        Console.WriteLine("| group | measurement | value | ratio | target | holds |");
        Console.WriteLine("|---|---|---:|---:|---:|---|");
        foreach (var row in _rows)
        {
            string ratio = row.Baseline is { } b && b > 0 ? $"{row.Value / b:0.00}×" : "";
            string target = row.Target is { } t ? $"≤ {t:0.0}×" : "";
            string holds = row.Target is { } t2 && row.Baseline is { } b2 ? (row.Value / b2 <= t2 ? "yes" : "NO") : "";
            Console.WriteLine($"| {row.Group} | {row.Name} | {row.Value:0.0} {row.Unit} | {ratio} | {target} | {holds} |");
        }

        foreach (var check in _checks)
        {
            Console.WriteLine($"| target | {check.Name} | | | | {(check.Holds ? "yes" : "NO")} |");
        }
    }
}
