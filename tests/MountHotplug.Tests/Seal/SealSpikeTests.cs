using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using MountHotplug.Tests.Runtimes;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Seal;

/// <summary>
/// The issue-17 spike, kept so that it cannot rot: tests/seal/seal_spike.c is built here (static, -Wall -Wextra -Werror),
/// seals a hot-plug into a real unprivileged LXC container in C (no module code involved) and then, as the container's
/// root, tries every way we know to make it writable or take it away. The expected lines are what Linux 6.18 answered;
/// docs/security.md quotes them. A kernel that answers differently fails this test, and the docs must change with it.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SealSpikeTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void TheSpikeSealsReadOnlyButNotAgainstUnmounting()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        using var scenario = Scenario.Prepare(containers: [], sessions: 0, treeContent: "sealed host file\n");
        TempTree sealedTree = scenario.Tree;
        TempTree controlTree = scenario.NewTree("control host file\n");
        string spike = SealSpike.Build(sealedTree.Root);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-seal-"), unprivileged: true));
        SealSpike.CopyInto(lxc, spike);
        scenario.Begin();
        string hostTableBefore = File.ReadAllText("/proc/1/mountinfo");

        // The host half in a throwaway mount namespace of its own: the helper it forks makes its private namespaces there.
        ExecResult host = ChildProcess.Run(["unshare", "-m", "--propagation", "private", "--", spike, "host",
            lxc.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), sealedTree.Data, controlTree.Data, "/mnt/hp"]);
        output.WriteLine(host.StandardOutput + host.StandardError);
        Assert.True(host.ExitCode == 0, host.StandardError);
        string[] hostLines = Lines(host.StandardOutput);
        Assert.Contains("helper setns(pidfd, CLONE_NEWUSER) into the container's user namespace: ok", hostLines);
        Assert.Contains("helper unshare(CLONE_NEWNS) owned by the container's user namespace (copy_mnt_ns + lock_mnt_tree): ok", hostLines);
        // Even the sealer, which holds CAP_SYS_ADMIN over the container's user namespace only, cannot clear it.
        Assert.Contains("helper mount_setattr(clear RDONLY) on one more clone, as the sealer: EPERM (Operation not permitted)", hostLines);
        Assert.All(hostLines.Where(l => l.StartsWith("host move_mount", StringComparison.Ordinal)), l => Assert.EndsWith(": ok", l));

        Dictionary<string, string> outcome = SealSpike.Attack(lxc, "/mnt/hp", output);
        SealSpike.AssertSealed(outcome, "sealed");
        SealSpike.AssertSealed(outcome, "tree/m");
        SealSpike.AssertControlWritable(outcome);
        SealSpike.AssertTopCanBeRemoved(outcome);

        // A sealed mount that is the child of a sealed carrier cannot be unmounted or moved on its own (MNT_LOCKED), but
        // the carrier can be detached with it.
        Assert.Equal("EINVAL", outcome["tree/m umount2(0)"]);
        Assert.Equal("EINVAL", outcome["tree/m umount2(MNT_DETACH)"]);
        Assert.Equal("EINVAL", outcome["tree/m mount(MS_MOVE)"]);
        Assert.Equal("EBUSY", outcome["tree umount2(0) of the carrier"]);
        Assert.Equal("ok", outcome["tree umount2(MNT_DETACH) of the carrier"]);

        Assert.Equal("sealed host file\n", File.ReadAllText(Path.Combine(sealedTree.Data, "hello.txt")));
        Assert.StartsWith("control host file\nwritten from inside the container\n", File.ReadAllText(Path.Combine(controlTree.Data, "hello.txt")));
        Assert.Equal(hostTableBefore, File.ReadAllText("/proc/1/mountinfo"));
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
