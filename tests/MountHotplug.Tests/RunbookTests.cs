using MountHotplug.Sandbox;
using MountHotplug.Tests.Runtimes;
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

    [SkippableFact]
    public void SwitchConfigVolumeMountsFirstThenSwapsAtomically()
    {
        Privileged.Require();
        using var v1 = new TempTree("version 1\n");
        using var v2 = new TempTree("version 2\n");
        using var container = SandboxContainer.Start();
        using var ps = new PowerShellSession();
        var guard = new HostGuard();
        var vars = new Dictionary<string, object?> { ["runbook"] = Example("Switch-ConfigVolume.ps1"), ["ctPid"] = container.Pid, ["v1"] = v1.Data, ["v2"] = v2.Data };

        PipelineResult first = ps.Run("& $runbook -ProcessId $ctPid -Path $v1 -Target /etc/app/conf.d", vars);
        Assert.True(first.Errors.Count == 0, first.Describe());
        Assert.Equal($"Mounted {v1.Data} at /etc/app/conf.d inside PID {container.Pid} (first version).", first.Output.Single().ToString());
        Assert.Equal("version 1\n", container.ExecOrThrow("cat", "/etc/app/conf.d/hello.txt"));

        PipelineResult second = ps.Run("& $runbook -ProcessId $ctPid -Path $v2 -Target /etc/app/conf.d", vars);
        Assert.True(second.Errors.Count == 0, second.Describe());
        Assert.StartsWith($"Swapped /etc/app/conf.d inside PID {container.Pid} to {v2.Data}", second.Output.Single().ToString());
        Assert.Equal("version 2\n", container.ExecOrThrow("cat", "/etc/app/conf.d/hello.txt"));
        Assert.Equal(1, ContainerView.CountAt(container, "/etc/app/conf.d"));
        Assert.Contains("noexec", ContainerView.MountAt(container, "/etc/app/conf.d")!.Options);
        guard.AssertClean();
    }

    [SkippableFact]
    public void GrantIdmappedShareLetsAnUnprivilegedContainersRootWrite()
    {
        Privileged.Require();
        using var tree = new TempTree();
        using var lxc = LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-rb-"), unprivileged: true);
        using var ps = new PowerShellSession();

        PipelineResult result = ps.Run("& $runbook -Name $n -LxcPath $p -Path $src -Target /srv/share",
            new Dictionary<string, object?> { ["runbook"] = Example("Grant-IdmappedShare.ps1"), ["n"] = lxc.Name, ["p"] = lxc.LxcPath, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.StartsWith("Shared " + tree.Data + " at /srv/share inside PID", result.Output.Single().ToString());
        Assert.Equal("0 0\n", lxc.ExecOrThrow("stat", "-c", "%u %g", "/srv/share/hello.txt"));
        lxc.ExecOrThrow("sh", "-c", "echo written > /srv/share/by-container.txt");
        Assert.Equal("written\n", File.ReadAllText(Path.Combine(tree.Data, "by-container.txt")));
    }
}
