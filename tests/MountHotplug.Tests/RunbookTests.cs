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
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run("& $runbook -ProcessId $ctPid -Path $src -Target /mnt/media",
            new Dictionary<string, object?> { ["runbook"] = Example("Add-ReadOnlyDataset.ps1"), ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.StartsWith($"Added {tree.Data} read-only at /mnt/media inside PID {container.Pid}", result.Output[0].ToString());
        Assert.Equal(tree.Content, container.ExecOrThrow("cat", "/mnt/media/hello.txt"));
        Assert.Contains("nosuid", ContainerView.MountAt(container, "/mnt/media")!.Options);
    }

    [SkippableFact]
    public void AddReadOnlyDatasetRunsThroughMhpWithWhatIf()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);

        ExecResult run = Mhp.Run("-File", Example("Add-ReadOnlyDataset.ps1"), "-ProcessId", container.Pid.ToString(), "-Path", tree.Data, "-Target", "/mnt/media", "-WhatIf");

        Assert.True(run.ExitCode == 0, run.StandardOutput + run.StandardError);
        Assert.Contains("What if: Attach the staged mount of " + tree.Data, run.StandardOutput);
        Assert.Null(ContainerView.MountAt(container, "/mnt/media"));
    }

    [SkippableFact]
    public void SwitchConfigVolumeMountsFirstThenSwapsAtomically()
    {
        using var scenario = Scenario.Start(treeContent: "version 1\n");
        var (container, ps, v1) = (scenario.Container, scenario.Session, scenario.Tree);
        TempTree v2 = scenario.NewTree("version 2\n");
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
    }

    [SkippableFact]
    public void GrantIdmappedShareLetsAnUnprivilegedContainersRootWrite()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-rb-"), unprivileged: true));
        scenario.Begin();

        PipelineResult result = ps.Run("& $runbook -Name $n -LxcPath $p -Path $src -Target /srv/share",
            new Dictionary<string, object?> { ["runbook"] = Example("Grant-IdmappedShare.ps1"), ["n"] = lxc.Name, ["p"] = lxc.LxcPath, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.StartsWith("Shared " + tree.Data + " at /srv/share inside PID", result.Output.Single().ToString());
        Assert.Equal("0 0\n", lxc.ExecOrThrow("stat", "-c", "%u %g", "/srv/share/hello.txt"));
        lxc.ExecOrThrow("sh", "-c", "echo written > /srv/share/by-container.txt");
        Assert.Equal("written\n", File.ReadAllText(Path.Combine(tree.Data, "by-container.txt")));
    }
}
