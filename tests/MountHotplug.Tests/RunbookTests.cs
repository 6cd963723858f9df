using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>The runbooks in examples/ run for real, in the hosted engine and through mhp -File.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class RunbookTests
{
    private static string Example(string name) => Path.Combine(Mhp.RepositoryRoot, "examples", name);

    [SkippableFact]
    public void AddReadOnlyDatasetRunsInTheEngine()
    {
        Privileged.Require();
        using var tree = new TempTree();
        using var container = SandboxContainer.Start();
        using var ps = new PowerShellSession();
        var guard = new HostGuard();

        PipelineResult result = ps.Run("& $runbook -ProcessId $ctPid -Path $src -Target /mnt/media",
            new Dictionary<string, object?> { ["runbook"] = Example("Add-ReadOnlyDataset.ps1"), ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.StartsWith($"Added {tree.Data} read-only at /mnt/media inside PID {container.Pid}", result.Output[0].ToString());
        Assert.Equal(tree.Content, container.ExecOrThrow("cat", "/mnt/media/hello.txt"));
        Assert.Contains("nosuid", ContainerView.MountAt(container, "/mnt/media")!.Options);
        guard.AssertClean();
    }

    [SkippableFact]
    public void AddReadOnlyDatasetRunsThroughMhpWithWhatIf()
    {
        Privileged.Require();
        using var tree = new TempTree();
        using var container = SandboxContainer.Start();

        ExecResult run = Mhp.Run("-File", Example("Add-ReadOnlyDataset.ps1"), "-ProcessId", container.Pid.ToString(), "-Path", tree.Data, "-Target", "/mnt/media", "-WhatIf");

        Assert.True(run.ExitCode == 0, run.StandardOutput + run.StandardError);
        Assert.Contains("What if: Attach the staged mount of " + tree.Data, run.StandardOutput);
        Assert.Null(ContainerView.MountAt(container, "/mnt/media"));
    }
}
