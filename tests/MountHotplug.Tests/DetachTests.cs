using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// Taking a hot-plugged directory mount away again (the undo of a failed hot-plug, a failed restore, the old top of a
/// replace) through a descriptor of its root. umount2 names the mount on top at that root, so a mount the container
/// stacked on it since would go in its place and leave ours attached (kernel-notes N18); the detach takes the stack off
/// first, as a lazy unmount of our mount itself would.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class DetachTests
{
    [SkippableFact]
    public void AMountTheContainerStackedOnOursGoesWithOursAndNothingIsLeftAtThePath()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        using ContainerNamespace ns = ContainerNamespace.Open(container.Pid);
        using SafeMountHandle ours = Attach(ns, tree.Data, "/stacked");

        // The container's root mounts over the path: its tmpfs lands on our mount's root.
        container.ExecOrThrow("mount", "-t", "tmpfs", "stacked-by-the-container", "/stacked");
        Assert.Equal("tmpfs", ContainerView.MountAt(container, "/stacked")!.FileSystemType);
        Assert.Equal(2, ContainerView.CountAt(container, "/stacked"));

        using SafePathHandle root = ContainerSession.OpenProcessRoot(ns, "/");
        using NamespaceWorker worker = NamespaceWorker.Enter(ns.Pidfd);
        int errno = worker.TryDetachDirectoryMountAndCovering(ours, root, out int covering, out bool detached);

        Assert.Equal((0, 1, true), (errno, covering, detached));
        Assert.Equal(0, ContainerView.CountAt(container, "/stacked"));
    }

    [SkippableFact]
    public void WithNothingOnTopOnlyOurMountIsDetached()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        using ContainerNamespace ns = ContainerNamespace.Open(container.Pid);
        container.ExecOrThrow("mkdir", "-p", "/below");
        container.ExecOrThrow("mount", "-t", "tmpfs", "the-containers-own", "/below");
        using SafeMountHandle ours = Attach(ns, tree.Data, "/below", allowStacking: true);
        Assert.Equal(2, ContainerView.CountAt(container, "/below"));

        using SafePathHandle root = ContainerSession.OpenProcessRoot(ns, "/");
        using NamespaceWorker worker = NamespaceWorker.Enter(ns.Pidfd);
        int errno = worker.TryDetachDirectoryMountAndCovering(ours, root, out int covering, out bool detached);

        // Ours was on top: it alone goes, and the container's own mount beneath it stays.
        Assert.Equal((0, 0, true), (errno, covering, detached));
        MountInfo left = Assert.Single(ContainerView.Mounts(container), m => m.MountPoint == "/below");
        Assert.Equal("the-containers-own", left.Source);
    }

    // A clone of the host directory attached at target, its descriptor kept (the session's own Attach of a StagedMount
    // closes it once attached).
    private static SafeMountHandle Attach(ContainerNamespace ns, string source, string target, bool allowStacking = false)
    {
        SafeMountHandle mount = MountSyscalls.OpenTree(null, source, OpenTreeFlags.Clone);
        MountSyscalls.MountSetAttr(mount, MountAttributes.None, MountAttributes.None, MountPropagation.Private, recursive: false);
        StatxInfo info = MountSyscalls.Statx(mount);
        ns.Session.Attach(mount, info, target, new AttachOptions { CreateTarget = true, AllowStacking = allowStacking });
        return mount;
    }
}
