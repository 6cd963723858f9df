using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Each bad input gets its own error id, the right category, and leaves nothing behind.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class BadInputTests
{
    private const string Move = "MountHotplug.MoveMountIntoNamespaceCommand";

    public static TheoryData<string, string, string, string?> MoveCases => new()
    {
        // script after "$ct = Get-ContainerNamespace $ctPid", expected id, expected category, path left absent in the container
        { "New-StagedMount /nonexistent/mhp-source | Move-MountIntoNamespace -Namespace $ct -Target /mnt/x -CreateTarget", "SourceNotFound,MountHotplug.NewStagedMountCommand", "ObjectNotFound", "mnt/x" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target mnt/relative -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", "mnt/relative" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target '' -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target / -Force", $"InvalidTarget,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/../etc/x -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", "etc/x" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/missing", $"TargetNotFound,{Move}", "ObjectNotFound", "mnt/missing" },
        { "New-StagedMount $file | Move-MountIntoNamespace -Namespace $ct -Target /etc", $"TargetTypeMismatch,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /etc/passwd", $"TargetTypeMismatch,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /etc/passwd/below -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /proc", $"TargetIsMountPoint,{Move}", "ResourceExists", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/magic/x -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", null },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target (\"/mnt/nul\" + [char]0 + \"x\") -CreateTarget", $"InvalidTarget,{Move}", "InvalidArgument", "mnt/nul" },
    };

    [SkippableTheory]
    [MemberData(nameof(MoveCases))]
    public void BadHotplugInputGetsItsOwnErrorAndLeavesNothing(string script, string expectedId, string expectedCategory, string? absentPath)
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        container.ExecOrThrow("ln", "-s", "/proc/1/root", "/mnt/magic");
        var mountsBefore = ContainerView.Mounts(container).Select(m => m.MountPoint).ToList();

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid\n" + script + "\n$ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data, ["file"] = tree.SingleFile });

        var error = Assert.Single(result.Errors, e => e.FullyQualifiedErrorId == expectedId);
        Assert.Equal(expectedCategory, error.CategoryInfo.Category.ToString());
        Assert.NotNull(error.TargetObject);
        Assert.False(string.IsNullOrWhiteSpace(error.ErrorDetails?.Message), "the error says what failed and what to do");
        if (absentPath is not null)
        {
            Assert.False(Path.Exists(Path.Combine(container.RootfsPath, absentPath)), $"{absentPath} was left in the container");
        }

        var mountsAfter = ContainerView.Mounts(container).Select(m => m.MountPoint).ToList();
        Assert.Equal(mountsBefore.Count + result.Output.Count, mountsAfter.Count);
    }

    [SkippableFact]
    public void MissingTargetErrorNamesTheSyscallErrnoAndRemedy()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/missing/deeper; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        var error = Assert.Single(result.Errors);
        string message = error.ErrorDetails!.Message;
        Assert.Contains("/mnt/missing", message);
        Assert.Contains("openat2", message);
        Assert.Contains("ENOENT", message);
        Assert.Contains("-CreateTarget", error.ErrorDetails.RecommendedAction); // the remedy, printed by ConciseView under the message
        var hotplug = Assert.IsType<HotplugException>(error.Exception);
        Assert.Equal(Errno.ENOENT, hotplug.Syscall!.Errno);
        // A target problem names the path inside the container, not the host source (issue 13).
        Assert.Equal($"/mnt/missing/deeper in PID {container.Pid}", error.TargetObject.ToString());
    }

    [SkippableFact]
    public void UnknownProcessIsObjectNotFound()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;
        int unused = FindUnusedPid();

        PipelineResult result = ps.Run($"Get-ContainerNamespace -ProcessId {unused}");

        var error = Assert.Single(result.Errors);
        Assert.Equal("ProcessNotFound,MountHotplug.GetContainerNamespaceCommand", error.FullyQualifiedErrorId);
        Assert.Equal("ObjectNotFound", error.CategoryInfo.Category.ToString());
        Assert.Equal(unused, error.TargetObject);
        Assert.Contains("ESRCH", error.ErrorDetails!.Message);
    }

    [SkippableFact]
    public void ContainerThatExitedAfterGetContainerNamespaceGetsNothing()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        var container = SandboxContainer.Start();
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        string rootfs = container.RootfsPath;
        container.Stop();

        PipelineResult result = ps.Run("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget; $ct.IsAlive; $ct.Dispose()",
            new Dictionary<string, object?> { ["src"] = tree.Data });

        var error = Assert.Single(result.Errors);
        Assert.Equal($"ContainerExited,{Move}", error.FullyQualifiedErrorId);
        Assert.Equal(container.Pid, Assert.IsType<ContainerNamespace>(error.TargetObject).ProcessId);
        Assert.Equal(false, result.Output.Single().BaseObject);
        Assert.False(Directory.Exists(Path.Combine(rootfs, "mnt", "data")));
        container.Dispose();
    }

    [SkippableFact]
    public void ReusedPidIsNeverEntered()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;

        // A pidfd refers to one process for its whole life: once that process is gone the object reports it,
        // whatever runs under the same number now. Simulate reuse by comparing against the live PID table.
        var container = SandboxContainer.Start();
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        container.Dispose();
        PipelineResult result = ps.Run("$ct.IsAlive; $ct.Dispose()");
        Assert.Equal(false, result.Output.Single().BaseObject);
    }

    [SkippableFact]
    public void TargetThatIsAlreadyAMountPointNeedsForce()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };
        ps.Run("$ct = Get-ContainerNamespace $ctPid", vars);

        Assert.Empty(ps.Run("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget").Errors);
        PipelineResult second = ps.Run("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data");
        Assert.Equal($"TargetIsMountPoint,{Move}", Assert.Single(second.Errors).FullyQualifiedErrorId);
        Assert.Equal(1, ContainerView.CountAt(container, "/mnt/data"));

        Assert.Empty(ps.Run("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -Force").Errors);
        Assert.Equal(2, ContainerView.CountAt(container, "/mnt/data"));
        ps.Run("$ct.Dispose()");
    }

    [SkippableFact]
    public void OneFailingItemDoesNotStopTheOthers()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
New-StagedMount $src, /nonexistent/mhp, $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -Force -PassThru
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.Equal(new[] { "SourceNotFound,MountHotplug.NewStagedMountCommand" }, result.ErrorIds);
        Assert.Equal(2, result.Output.Count);
        Assert.Equal(2, ContainerView.CountAt(container, "/mnt/data"));
    }

    [SkippableFact]
    public void CallerWithoutCapSysAdminGetsPermissionDenied()
    {
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        var tree = scenario.Tree;
        foreach (string command in new[]
                 {
                     $"New-StagedMount {tree.Data}",
                     "Get-ContainerNamespace -ProcessId 1",
                     "Set-MountGroup -Source / -Target /",
                     "$ns = [MountHotplug.ContainerNamespace]::Open($PID); @() | Move-MountIntoNamespace -Target /x -Namespace $ns",
                 })
        {
            // NormalView: pwsh's default ConciseView shows the message, not the error id this checks.
            ExecResult run = Mhp.RunWithoutCapabilities("-Command", "$ErrorView = 'NormalView'; " + command + "; if (-not $?) { exit 3 }");
            string all = run.StandardOutput + run.StandardError;
            Assert.True(run.ExitCode != 0, all);
            Assert.Contains("NoCapSysAdmin", all);
            Assert.Contains("CAP_SYS_ADMIN", all);
            Assert.DoesNotContain("Unhandled exception", all);
        }
    }

    private static int FindUnusedPid()
    {
        int max = int.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim());
        for (int pid = max - 1; pid > 1; pid--)
        {
            if (!Directory.Exists($"/proc/{pid}"))
            {
                return pid;
            }
        }

        throw new InvalidOperationException("no free PID");
    }
}
