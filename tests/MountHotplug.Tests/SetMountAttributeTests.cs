using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Set-MountAttribute on mounts inside containers: flags and propagation, by path or by Get-Mount object.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SetMountAttributeTests
{
    private const string Cmd = "MountHotplug.SetMountAttributeCommand";

    // /s: a tmpfs with /s/sub below it; /s/peer: a bind of /s/sub; /s/plain a directory; /s/link a symlink to /s/sub.
    private const string Layout =
        "mkdir -p /s && mount -t tmpfs s /s && mkdir -p /s/sub /s/peer /s/plain && mount -t tmpfs sub /s/sub && mount --bind /s/sub /s/peer"
        + " && ln -s /s/sub /s/link";

    /// <summary>
    /// The preferred way would change a container's mount from the host, on a descriptor resolved through /proc/PID/root with
    /// RESOLVE_IN_ROOT, without entering the namespace. The kernel refuses that (mount_setattr checks that an attached mount is
    /// in the caller's namespace), so Set-MountAttribute enters it; both halves are shown here.
    /// </summary>
    [SkippableFact]
    public void MountSetAttrFromOutsideIsRefusedSoTheNamespaceIsEntered()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);

        using (ContainerNamespace pinned = ContainerNamespace.Open(container.Pid))
        using (SafePathHandle root = ContainerSession.OpenProcessRoot(pinned, "/s/sub"))
        using (SafePathHandle sub = MountSyscalls.OpenAt2(root, "/s/sub", OpenFlags.Path, ContainerTarget.InRoot))
        {
            Assert.True(MountSyscalls.Statx(sub).IsMountRoot);
            var refused = Assert.ThrowsAny<SyscallException>(() =>
                MountSyscalls.MountSetAttr(sub, MountAttributes.ReadOnly, MountAttributes.None, MountPropagation.Unchanged, recursive: false));
            Assert.Equal(Errno.EINVAL, refused.Errno);
        }

        Assert.False(ContainerView.MountAt(container, "/s/sub")!.IsReadOnly);

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid; Set-MountAttribute /s/sub -Namespace $ct -ReadOnly -Verbose; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.True(ContainerView.MountAt(container, "/s/sub")!.IsReadOnly);
        Assert.Contains(result.Verbose, v => v.Message.StartsWith("unshare(CLONE_FS) + setns(", StringComparison.Ordinal));
        Assert.Contains(result.Verbose, v => v.Message.Contains("inside the namespace = 0"));
    }

    [SkippableFact]
    public void SetsAndClearsFlagsAndPropagationAndPassesTheMountThrough()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
Set-MountAttribute -Path /s/sub -Namespace $ct -ReadOnly -NoSuid -NoDev -NoExec -Propagation Shared -PassThru
Set-MountAttribute -Path /s/sub -Namespace $ct -ReadOnly:$false -NoExec:$false -PassThru
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        var (first, second) = (Assert.IsType<Mount>(result.Output[0].BaseObject), Assert.IsType<Mount>(result.Output[1].BaseObject));
        Assert.Equal("/s/sub", first.MountPoint);
        Assert.True(first.ReadOnly && first.NoSuid && first.NoDev && first.NoExec);
        Assert.Equal(PropagationState.Shared, first.ToEntry().Propagation);
        Assert.Equal(container.Pid, first.Namespace!.ProcessId);
        Assert.False(second.ReadOnly || second.NoExec);
        Assert.True(second.NoSuid && second.NoDev);
        Assert.Equal(first.MountId, second.MountId);

        MountInfo row = ContainerView.MountAt(container, "/s/sub")!;
        Assert.Equal("rw,nosuid,nodev,relatime", row.Options);
        Assert.NotEqual(0, row.PeerGroup);
        container.ExecOrThrow("sh", "-c", "echo written > /s/sub/f");
    }

    [SkippableFact]
    public void AnAttachedStagedMountBindsByPropertyToo()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /hot -CreateTarget -PassThru | Set-MountAttribute -NoExec -PassThru
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.True(Assert.IsType<Mount>(Assert.Single(result.Output).BaseObject).NoExec);
        Assert.Contains("noexec", ContainerView.MountAt(container, "/hot")!.Options.Split(','));
    }

    [SkippableFact]
    public void GetMountObjectsBindFromThePipelineAndRecurseReachesTheMountsBelow()
    {
        using var scenario = Scenario.Start(SandboxKind.Chroot);
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout + " && umount /s/peer && mkdir /s/sub/m /s/sub/back && mount --make-shared /s/sub && mount --bind /s/sub /s/peer");

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
Get-Mount -Namespace $ct -Path /s/peer | Set-MountAttribute -Propagation Slave
Get-Mount -Namespace $ct -Path /s | Set-MountAttribute -Recurse -ReadOnly
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        MountInfo sub = ContainerView.MountAt(container, "/s/sub")!, peer = ContainerView.MountAt(container, "/s/peer")!;
        Assert.Equal(sub.PeerGroup, peer.Master);
        Assert.Equal(0, peer.PeerGroup);
        Assert.All(new[] { "/s", "/s/sub", "/s/peer" }, p => Assert.True(ContainerView.MountAt(container, p)!.IsReadOnly, p));

        // One way: the slave receives what is mounted under its master and sends nothing back.
        container.ExecOrThrow("sh", "-c", "mount -t tmpfs m /s/sub/m && mount -t tmpfs back /s/peer/back");
        Assert.NotNull(ContainerView.MountAt(container, "/s/peer/m"));
        Assert.Null(ContainerView.MountAt(container, "/s/sub/back"));
    }

    public static TheoryData<string, string, string> RefusalCases => new()
    {
        { "Set-MountAttribute /s/plain -Namespace $ct -ReadOnly", $"NotAMountPoint,{Cmd}", "not a mount point" },
        { "Set-MountAttribute /s/missing -Namespace $ct -ReadOnly", $"MountNotFound,{Cmd}", "ENOENT" },
        { "Set-MountAttribute s/sub -Namespace $ct -ReadOnly", $"InvalidPath,{Cmd}", "absolute" },
        { "Set-MountAttribute /s/sub -Namespace $ct", $"NothingToChange,{Cmd}", "nothing to change" },
        { "Set-MountAttribute /s/link -Namespace $ct -ReadOnly", $"TargetIsSymlink,{Cmd}", "symbolic link" },
        { "Get-Mount -Namespace $ct -Path /s/peer | Set-MountAttribute -ReadOnly -WhatIf", string.Empty, string.Empty },
    };

    [SkippableTheory]
    [MemberData(nameof(RefusalCases))]
    public void EachRefusalHasItsOwnErrorAndChangesNothing(string script, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run($"$ct = Get-ContainerNamespace $ctPid\n{script}\n$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        if (expectedId.Length == 0)
        {
            Assert.True(result.Errors.Count == 0, result.Describe());
            Assert.Contains("What if: set ro on the mount at '/s/peer'", ps.HostOutput);
        }
        else
        {
            var error = Assert.Single(result.Errors);
            Assert.Equal(expectedId, error.FullyQualifiedErrorId);
            Assert.Contains(expectedText, error.ErrorDetails?.Message ?? error.Exception.Message, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
    }

    [SkippableFact]
    public void AListedMountThatWasReplacedIsNotChanged()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);

        ps.Run("$ct = Get-ContainerNamespace $ctPid; $listed = Get-Mount -Namespace $ct -Path /s/peer", new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        container.ExecOrThrow("sh", "-c", "umount /s/peer && mount -t tmpfs other /s/peer");
        PipelineResult result = ps.Run("$listed | Set-MountAttribute -ReadOnly; $ct.Dispose()");

        var error = Assert.Single(result.Errors);
        Assert.Equal($"MountChanged,{Cmd}", error.FullyQualifiedErrorId);
        Assert.False(ContainerView.MountAt(container, "/s/peer")!.IsReadOnly);
    }
}
