using System.Diagnostics;
using System.Management.Automation;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// Containers die, PIDs come around again, admins press Ctrl+C: each at the worst moment, in the middle of long
/// pipelines. What completed is reported, nothing is half done, no descriptor or thread is left.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class LifetimeTests(ITestOutputHelper output)
{
    private const string Move = "MountHotplug.MoveMountIntoNamespaceCommand";

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void ContainerThatExitsDuringALongPipelineGetsNothingMoreAndLeavesNothing(SandboxKind kind)
    {
        const int items = 400, killAfter = 60;
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        var container = SandboxContainer.Start(kind);
        string rootfs = container.RootfsPath;
        var outcomes = new List<object>();
        int attached = 0;
        Task? killer = null;

        // The probe sees each outcome as the pipeline makes it; the container is stopped from another thread, so the
        // stop lands wherever the pipeline happens to be (resolving, entering, moving, verifying).
        Action<object> probe = outcome =>
        {
            outcomes.Add(outcome is PSObject p ? p.BaseObject : outcome);
            if (outcomes[^1] is StagedMount && ++attached == killAfter)
            {
                killer = Task.Run(container.Stop);
            }
        };

        var stopwatch = Stopwatch.StartNew();
        PipelineResult result = ps.Run($$"""
            $ct = Get-ContainerNamespace $ctPid
            1..{{items}} | ForEach-Object { New-StagedMount $src } |
                Move-MountIntoNamespace -Namespace $ct -Target /mnt/life/t -CreateTarget -Force -PassThru 2>&1 |
                ForEach-Object { $probe.Invoke($_) }
            """, new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data, ["probe"] = probe });
        stopwatch.Stop();
        killer!.Wait();

        // Asked once the stop has finished: until its parent reaps it, an exited init is a zombie, which
        // pidfd_send_signal(0) still reaches, so IsAlive can say true for a moment after the moves saw it gone.
        PipelineResult alive = ps.Run("$ct.IsAlive; $ct.Dispose()");
        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(false, alive.Output.Single().BaseObject);
        Assert.Equal(items, outcomes.Count);
        int firstFailure = outcomes.FindIndex(o => o is not StagedMount);
        Assert.True(firstFailure >= killAfter, $"the first failure came at item {firstFailure}");
        Assert.All(outcomes.Take(firstFailure), o => Assert.Equal(StagedMountState.Attached, ((StagedMount)o).GetState()));
        var errors = outcomes.Skip(firstFailure).Select(o => Assert.IsType<ErrorRecord>(o)).ToList();
        Assert.All(errors, e => Assert.Equal($"ContainerExited,{Move}", e.FullyQualifiedErrorId));
        Assert.All(errors, e => Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category));

        // Only the target that the successful moves used was created; the failed ones created nothing.
        Assert.Equal(["t"], Directory.GetFileSystemEntries(Path.Combine(rootfs, "mnt", "life")).Select(Path.GetFileName));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(rootfs, "mnt", "life", "t")));
        container.Dispose();
        output.WriteLine($"{kind}: {items} items in {stopwatch.Elapsed.TotalSeconds:0.0} s; container stopped after {killAfter} attached; "
            + $"attached {firstFailure}, then {errors.Count} ContainerExited");
    }

    [SkippableFact]
    public void ProcessThatReusesTheContainersPidIsNeverEntered()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        string hostCanary = "/tmp/mhp-reuse-" + Guid.NewGuid().ToString("N")[..8];

        // The container's PID is taken over by an "impostor" with a mount namespace of its own and the host's root.
        // Get-ContainerNamespace pinned the container with a pidfd before it died; only the pidfd can tell them apart.
        Process? impostor = null;
        int pid = 0, attempts = 0;
        for (int round = 0; round < 5 && impostor is null; round++)
        {
            using var container = SandboxContainer.Start();
            pid = container.Pid;
            ps.Run("if ($ct) { $ct.Dispose() }; $ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = pid });
            container.Stop();
            impostor = PidReuse.Spawn(pid, "sleep", ref attempts, "unshare", "--mount", "--propagation", "private", "sleep", "600");
        }

        Assert.True(impostor is not null, $"could not make PID {pid} come around again in {attempts} attempts");
        using (impostor)
        {
            try
            {
                var ct = (ContainerNamespace)((PSObject)ps.Runspace.SessionStateProxy.GetVariable("ct")).BaseObject;
                string impostorNs = new FileInfo($"/proc/{pid}/ns/mnt").LinkTarget!;
                // Namespace inode numbers are recycled as soon as a namespace is freed (the impostor's new namespace
                // often gets the dead container's number): they say nothing about identity over time, only the pidfd does.
                Assert.NotEqual(ProcessState.ProcessMountNamespace, impostorNs);
                string impostorTable = File.ReadAllText($"/proc/{pid}/mountinfo");

                // setns through the old pidfd is refused by the kernel itself, whatever runs under the number now.
                var refused = Assert.ThrowsAny<SyscallException>(() => NamespaceWorker.Enter(ct.Pidfd).Dispose());
                Assert.Equal(Errno.ESRCH, refused.Errno);

                PipelineResult result = ps.Run("""
                    $ct.IsAlive
                    New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target "$canary/x" -CreateTarget
                    $now = Get-ContainerNamespace $ctPid
                    $now.ProcessName
                    $now.IsAlive
                    $now.Dispose()
                    $ct.Dispose()
                    """, new Dictionary<string, object?> { ["src"] = tree.Data, ["canary"] = hostCanary, ["ctPid"] = pid });

                Assert.Equal(false, result.Output[0].BaseObject);
                Assert.Equal($"ContainerExited,{Move}", Assert.Single(result.Errors).FullyQualifiedErrorId);
                Assert.Equal(["sleep", true], result.Output.Skip(1).Select(o => o.BaseObject)); // the PID is the impostor's now
                Assert.Equal(impostorTable, File.ReadAllText($"/proc/{pid}/mountinfo"));
                Assert.False(Path.Exists(hostCanary), $"{hostCanary} was created through the impostor's root");
                output.WriteLine($"PID {pid} reused by a new process after {attempts} attempt(s); the stale pidfd refused setns (ESRCH), the hot-plug failed with ContainerExited");
            }
            finally
            {
                impostor!.Kill();
                impostor.WaitForExit();
            }
        }
    }

    public static TheoryData<string, int> StopCases => new()
    {
        // One Move-MountIntoNamespace for every item (one namespace thread, stacked mounts, -Verbose so that stopping
        // also hits its trace output), and one per item (a thread each, a directory created each).
        { "one", 20 },
        { "each", 20 },
    };

    [SkippableTheory]
    [MemberData(nameof(StopCases))]
    public void CtrlCInALongPipelineLeavesEveryMountAttachedAndReportedOrAbsent(string moveCommands, int stops)
    {
        const int seed = 8;
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var random = new Random(seed);
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        int totalAttached = 0, totalStaged = 0, totalPassedThrough = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < stops; i++)
        {
            int stopAfter = random.Next(1, 120);
            string where = moveCommands == "one" ? $"/mnt/stop{i}/t" : $"/mnt/stop{i}";
            string script = moveCommands == "one"
                ? $"1..5000 | ForEach-Object {{ $m = New-StagedMount $src; $all.Add($m); $m }} | Move-MountIntoNamespace -Namespace $ct -Target {where} -CreateTarget -Force -PassThru -Verbose"
                : $"1..5000 | ForEach-Object {{ $m = New-StagedMount $src; $all.Add($m); $m | Move-MountIntoNamespace -Namespace $ct -Target \"{where}/$_\" -CreateTarget -PassThru -Verbose }}";
            var all = new List<object>();
            var passedThrough = new PSDataCollection<PSObject>();
            using (var pipeline = PowerShell.Create())
            {
                pipeline.Runspace = ps.Runspace;
                ps.Runspace.SessionStateProxy.SetVariable("all", all);
                ps.Runspace.SessionStateProxy.SetVariable("src", tree.Data);
                pipeline.AddScript(script);
                using var enough = new ManualResetEventSlim();
                passedThrough.DataAdded += (_, _) =>
                {
                    if (passedThrough.Count >= stopAfter)
                    {
                        enough.Set();
                    }
                };
                IAsyncResult running = pipeline.BeginInvoke<PSObject, PSObject>(null, passedThrough);
                Assert.True(enough.Wait(TimeSpan.FromMinutes(2)), $"stop {i}: only {passedThrough.Count} mounts in two minutes");
                pipeline.Stop();
                Assert.Equal(PSInvocationState.Stopped, pipeline.InvocationStateInfo.State);
                try
                {
                    pipeline.EndInvoke(running);
                }
                catch (PipelineStoppedException)
                {
                    // What a stopped pipeline ends with.
                }
            }

            var mounts = all.Cast<StagedMount>().ToList();
            var attached = mounts.Where(m => m.GetState() == StagedMountState.Attached).ToList();
            var reported = passedThrough.Select(p => (StagedMount)p.BaseObject).ToList();
            string context = $"seed {seed}, stop {i} after {stopAfter} of {mounts.Count} ({moveCommands})";

            // Reported: every mount passed through is attached; attached: each one is in the container at its target.
            Assert.All(reported, m => Assert.Contains(m, attached));
            Assert.True(attached.Count - reported.Count <= 1, $"{context}: {attached.Count} attached, {reported.Count} passed through");
            Assert.All(mounts.Except(attached), m => Assert.True(m.GetState() is StagedMountState.Staged or StagedMountState.Disposed, $"{context}: {m}"));
            var table = ContainerView.Mounts(container);
            if (moveCommands == "one")
            {
                Assert.True(table.Count(m => m.MountPoint == where) == attached.Count, $"{context}: {table.Count(m => m.MountPoint == where)} mounts at {where}, {attached.Count} attached");
                Assert.All(attached, m => Assert.Equal(where, m.Target));
            }
            else
            {
                // Each item had a target of its own: every directory made is in use by an attached mount.
                var made = Directory.GetFileSystemEntries(container.RootfsPath + where).Select(d => where + "/" + Path.GetFileName(d)).Order().ToList();
                Assert.True(made.SequenceEqual(attached.Select(m => m.Target!).Order()), $"{context}: made [{string.Join(' ', made)}], attached [{string.Join(' ', attached.Select(m => m.Target))}]");
                Assert.All(attached, m => Assert.Single(table, r => r.MountPoint == m.Target));
            }

            Assert.True(table.Count(m => m.MountPoint.StartsWith(where, StringComparison.Ordinal)) == attached.Count, $"{context}: stray mounts");
            totalAttached += attached.Count;
            totalStaged += mounts.Count;
            totalPassedThrough += reported.Count;
            foreach (StagedMount m in mounts)
            {
                m.Dispose();
            }
        }

        ps.Run("$ct.Dispose()");
        output.WriteLine($"{stops} stops ({moveCommands} Move-MountIntoNamespace) in {stopwatch.Elapsed.TotalSeconds:0.0} s: {totalStaged} staged, {totalAttached} attached, {totalPassedThrough} passed through before the stop");
    }
}
