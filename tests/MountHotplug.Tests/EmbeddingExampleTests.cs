using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>examples/HotplugConsole: the core library used from a plain .NET program, run as its own process.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class EmbeddingExampleTests
{
    private static string Example
    {
        get
        {
            string bin = Path.Combine(Mhp.RepositoryRoot, "examples", "HotplugConsole", "bin");
            return Directory.EnumerateFiles(bin, "HotplugConsole", SearchOption.AllDirectories)
                .OrderByDescending(File.GetLastWriteTimeUtc)
                .FirstOrDefault() ?? throw new InvalidOperationException($"the example is not built under {bin}");
        }
    }

    [SkippableFact]
    public void TheExampleHotplugsIntoARunningContainerAndListsItsMountsWithoutPowerShell()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);

        ExecResult run = ChildProcess.Run([Example, "--pid", container.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--source", tree.Data, "--target", "/mnt/example/data"], TimeSpan.FromSeconds(120));

        Assert.True(run.ExitCode == 0, run.StandardError + run.StandardOutput);
        Assert.Contains("attached: mount ", run.StandardOutput);
        Assert.Contains("mount: /mnt/example/data ", run.StandardOutput);
        Assert.Matches(@"attached: mount \d+ at /mnt/example/data \(created [^)]*/mnt/example/data\)", run.StandardOutput);
        Assert.Contains("move_mount(", run.StandardOutput); // the trace callback reached the program
        MountInfo? attached = ContainerView.MountAt(container, "/mnt/example/data");
        Assert.NotNull(attached);
        Assert.Contains("ro", attached!.Options.Split(','));
        Assert.Equal(tree.Content, File.ReadAllText($"/proc/{container.Pid}/root/mnt/example/data/hello.txt"));
    }

    [SkippableFact]
    public void TheExampleUnplugsWhatItPluggedAndSaysWhyWhenItCannot()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        int before = ContainerView.Mounts(container).Count;
        string pid = container.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);

        ExecResult run = ChildProcess.Run([Example, "--pid", pid, "--source", tree.Data, "--target", "/srv/x", "--unplug"], TimeSpan.FromSeconds(120));
        ExecResult refused = ChildProcess.Run([Example, "--pid", pid, "--source", Path.Combine(tree.Data, "missing"), "--target", "/srv/y"], TimeSpan.FromSeconds(120));
        ExecResult usage = ChildProcess.Run([Example, "--pid", pid], TimeSpan.FromSeconds(120));

        Assert.True(run.ExitCode == 0, run.StandardError + run.StandardOutput);
        Assert.Contains("unplugged: mount ", run.StandardOutput);
        Assert.Equal(before, ContainerView.Mounts(container).Count);
        Assert.False(Path.Exists(Path.Combine(container.RootfsPath, "srv", "x")));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("open_tree", refused.StandardError);
        Assert.Contains("ENOENT", refused.StandardError);
        Assert.Equal(2, usage.ExitCode);
        Assert.Equal(before, ContainerView.Mounts(container).Count);
    }
}
