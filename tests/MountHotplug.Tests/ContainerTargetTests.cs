using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// ContainerTarget.Resolve on a plain directory standing in for a container's root (no mounts, so no root needed): the
/// one-openat2 fast path for an existing parent, the name-by-name walk when a parent is missing, and what each leaves
/// to undo. A hostile root's links must keep every created entry inside the root.
/// </summary>
public sealed class ContainerTargetTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mhp-target-").FullName;
    private readonly SafePathHandle _rootHandle;

    public ContainerTargetTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "mnt", "b"));
        _rootHandle = MountSyscalls.Open(_root, OpenFlags.Path | OpenFlags.Directory);
    }

    public void Dispose()
    {
        _rootHandle.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void ExistingParentCreatedLeafIsTheOnlyCreatedPathAndParentIsItsDirectory()
    {
        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "b", "new" }, create: true, lastIsDirectory: true);

        Assert.Equal(new[] { "/mnt/b/new" }, target.CreatedPaths);
        Assert.True(target.Info.IsDirectory);
        Assert.Equal(Inode(Path.Combine(_root, "mnt", "b", "new")), target.Info.Inode);
        Assert.Equal(Inode(Path.Combine(_root, "mnt", "b")), MountSyscalls.Statx(target.Parent).Inode);
    }

    [Fact]
    public void CreatedFileLeafKeepsItsRealParent()
    {
        // A created file target is undone by name in its parent: that must be /mnt/b, not the root.
        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "b", "app.conf" }, create: true, lastIsDirectory: false);

        Assert.True(target.Info.IsRegularFile);
        Assert.Equal("app.conf", target.LeafName);
        Assert.Equal(Inode(Path.Combine(_root, "mnt", "b")), MountSyscalls.Statx(target.Parent).Inode);
        target.RemoveCreated();
        Assert.False(File.Exists(Path.Combine(_root, "mnt", "b", "app.conf")));
    }

    [Fact]
    public void MissingParentsAreCreatedOutermostFirstAndRemovedAgain()
    {
        using (ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "srv", "x", "y" }, create: true, lastIsDirectory: true))
        {
            Assert.Equal(new[] { "/srv", "/srv/x", "/srv/x/y" }, target.CreatedPaths);
            Assert.Equal(Inode(Path.Combine(_root, "srv", "x")), MountSyscalls.Statx(target.Parent).Inode);
            target.RemoveCreated();
        }

        Assert.False(Directory.Exists(Path.Combine(_root, "srv")));
    }

    [Fact]
    public void ExistingTargetCreatesNothing()
    {
        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "b" }, create: true, lastIsDirectory: true);

        Assert.Empty(target.CreatedPaths);
        Assert.Equal(Inode(Path.Combine(_root, "mnt", "b")), target.Info.Inode);
        Assert.Equal(Inode(Path.Combine(_root, "mnt")), MountSyscalls.Statx(target.Parent).Inode);
    }

    [Fact]
    public void TargetInTheRootItselfHasTheRootAsParent()
    {
        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "top" }, create: true, lastIsDirectory: true);

        Assert.Equal(new[] { "/top" }, target.CreatedPaths);
        Assert.Equal(Inode(_root), MountSyscalls.Statx(target.Parent).Inode);
    }

    [Fact]
    public void AbsoluteLinkInTheParentStaysInsideTheRoot()
    {
        // /link -> /mnt: the container means its own /mnt; resolved from the host it would be the host's.
        File.CreateSymbolicLink(Path.Combine(_root, "link"), "/mnt");
        string name = "mhp-" + Guid.NewGuid().ToString("N");

        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "link", "b", name }, create: true, lastIsDirectory: true);

        Assert.True(Directory.Exists(Path.Combine(_root, "mnt", "b", name)));
        Assert.False(Directory.Exists(Path.Combine("/mnt", "b", name)));
        target.RemoveCreated();
    }

    [Fact]
    public void LinkAsLastComponentIsReturnedAsALinkAndNothingIsCreated()
    {
        File.CreateSymbolicLink(Path.Combine(_root, "mnt", "b", "evil"), "/etc");

        using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "b", "evil" }, create: true, lastIsDirectory: true);

        Assert.True(target.Info.IsSymlink);
        Assert.Empty(target.CreatedPaths);
    }

    [Fact]
    public void MissingLeafWithoutCreateIsTargetNotFound()
    {
        var ex = Assert.Throws<HotplugException>(() => ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "b", "absent" }, create: false, lastIsDirectory: true));

        Assert.Equal(HotplugFailure.TargetNotFound, ex.Failure);
        Assert.Contains("'/mnt/b/absent'", ex.Message);
    }

    [Fact]
    public void MissingParentWithoutCreateNamesTheFirstMissingName()
    {
        var ex = Assert.Throws<HotplugException>(() => ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "nope", "deeper", "leaf" }, create: false, lastIsDirectory: true));

        Assert.Equal(HotplugFailure.TargetNotFound, ex.Failure);
        Assert.Contains("'/mnt/nope'", ex.Message);
    }

    [Fact]
    public void FileInThePathIsInvalidAndNothingIsLeft()
    {
        File.WriteAllText(Path.Combine(_root, "mnt", "plain"), "x");

        var ex = Assert.Throws<HotplugException>(() => ContainerTarget.Resolve(_rootHandle, new[] { "mnt", "plain", "leaf" }, create: true, lastIsDirectory: true));

        Assert.Equal(HotplugFailure.InvalidTarget, ex.Failure);
        Assert.Equal(Errno.ENOTDIR, ((SyscallException)ex.InnerException!).Errno);
        Assert.Equal(new[] { "b", "plain" }, Directory.EnumerateFileSystemEntries(Path.Combine(_root, "mnt")).Select(Path.GetFileName).Order());
    }

    /// <summary>
    /// A ".." met inside the root (here in a link's target) answers EAGAIN when any rename on the system has moved the
    /// kernel's rename sequence since the lookup began, and the kernel asks the caller to try again (kernel-notes N9). With a
    /// thread renaming all along, such lookups must still find their directory, not fail. InRootPath.Open makes one
    /// lookup, so it shows a missing retry at once; Resolve looks the parent up twice before it gives up, so it alone would
    /// fail only now and then.
    /// </summary>
    [Fact]
    public void LookupsThroughDotDotSucceedWhileRenamesRaceThem()
    {
        File.CreateSymbolicLink(Path.Combine(_root, "up"), "mnt/../mnt");
        long renames;
        using (var renamer = new Renamer(Directory.CreateDirectory(Path.Combine(_root, "renames")).FullName))
        {
            for (int i = 0; i < 3000; i++)
            {
                using SafePathHandle directory = InRootPath.Open(_rootHandle, "/up/b", InRootMode.Directory);
                using ContainerTarget target = ContainerTarget.Resolve(_rootHandle, new[] { "up", "b" }, create: false, lastIsDirectory: true);
            }

            renames = renamer.Stop();
        }

        // The race was live: renames happened while the lookups ran.
        Assert.True(renames > 0, "the renaming thread never renamed");
    }

    private static ulong Inode(string path)
    {
        using SafePathHandle handle = MountSyscalls.Open(path, OpenFlags.Path | OpenFlags.NoFollow);
        return MountSyscalls.Statx(handle).Inode;
    }

    /// <summary>Renames a file back and forth on a thread of its own until stopped.</summary>
    private sealed class Renamer : IDisposable
    {
        private readonly Thread _thread;
        private long _renames;
        private volatile bool _stop;

        public Renamer(string directory)
        {
            string a = Path.Combine(directory, "a"), b = Path.Combine(directory, "b");
            File.WriteAllText(a, string.Empty);
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    File.Move(a, b, overwrite: true);
                    File.Move(b, a, overwrite: true);
                    Interlocked.Add(ref _renames, 2);
                }
            }) { IsBackground = true, Name = "renames" };
            _thread.Start();
        }

        /// <summary>Stops the thread; how many renames it made.</summary>
        public long Stop()
        {
            _stop = true;
            _thread.Join();
            return Interlocked.Read(ref _renames);
        }

        public void Dispose() => Stop();
    }
}
