namespace MountHotplug;

/// <summary>How a detach went: the errno of the call that failed (0 if none), how many mounts stacked on the mount went first, and whether it is out.</summary>
internal sealed record DetachOutcome(int Errno, int Covering, bool Detached)
{
    public override string ToString() =>
        Errno != 0 ? ErrnoText.Name(Errno)
        : !Detached ? $"0 for {Covering} mounts stacked on it, and it is still attached"
        : Covering == 0 ? "0"
        : $"0 (after {Covering} mount{(Covering == 1 ? string.Empty : "s")} stacked on it since)";
}

/// <summary>
/// A target path resolved inside a container's root, held open as an O_PATH descriptor, with what was created
/// to reach it so that a failed hot-plug can remove it again.
/// </summary>
internal sealed class ContainerTarget : IDisposable
{
    internal const ResolveFlags InRoot = InRootPath.InRoot;

    internal const OpenFlags LastComponent = InRootPath.LastComponent;

    // Every descriptor this target holds (closed by Dispose); the created entries and Parent only refer to them.
    private readonly List<SafePathHandle> _handles = new();
    // A class, not a tuple: List<T> of a value type is code the JIT compiles in every process (ReadyToRun images hold no
    // instantiation of the framework's generics over value types of their own).
    private readonly List<Created> _created = new();

    private ContainerTarget(string path, string leafName)
    {
        Path = path;
        LeafName = leafName;
    }

    /// <summary>The normalized path inside the container.</summary>
    public string Path { get; }

    public SafePathHandle Handle { get; private set; } = null!;

    /// <summary>The directory that holds the target, also resolved inside the root.</summary>
    public SafePathHandle Parent { get; private set; } = null!;

    public string LeafName { get; }

    public StatxInfo Info { get; private set; }

    /// <summary>Paths inside the container that resolving created, outermost first.</summary>
    public IReadOnlyList<string> CreatedPaths => _created.ConvertAll(c => c.Path);

    /// <summary>
    /// Resolves <paramref name="components"/> below <paramref name="root"/> with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS),
    /// following symlinks in every component but the last (see <see cref="LastComponent"/>); a last component that is
    /// a symlink is returned as one, and the caller refuses it. With <paramref name="create"/>, creates each missing component with mkdirat (or, for the last one of a file
    /// source, an empty file) in its already resolved parent: one name at a time, so no symlink can lead out.
    /// With <paramref name="owner"/> (the host ids of the root of a container's user namespace), each created entry is
    /// given to that owner, as Proxmox does, so the container's root can use it; host root would show as nobody.
    /// </summary>
    public static ContainerTarget Resolve(SafeHandle root, IReadOnlyList<string> components, bool create, bool lastIsDirectory,
        (uint Uid, uint Gid)? owner = null)
    {
        var target = new ContainerTarget(TargetPath.Join(components), components[^1]);
        try
        {
            SafePathHandle parent = target.ResolveParent(root, components, create, owner);
            target.ResolveLeaf(parent, create, lastIsDirectory, owner);
            return target;
        }
        catch
        {
            target.RemoveCreated();
            target.Dispose();
            throw;
        }
    }

    // The parent of a hot-plug target nearly always exists: one openat2 finds it. Only when it does not (or cannot be
    // opened) is the path walked one name at a time, which creates what is missing and says which name is wrong.
    // Each system call here is 1.5 to 4 µs on the project's VM, a third of the raw hot-plug's cost (issue 7).
    private SafePathHandle ResolveParent(SafeHandle root, IReadOnlyList<string> components, bool create, (uint Uid, uint Gid)? owner)
    {
        if (components.Count == 1)
        {
            return Own(DuplicateRoot(root));
        }

        SafePathHandle? parent = MountSyscalls.TryOpenAt2(root, Path[..Path.LastIndexOf('/')],
            OpenFlags.Path | OpenFlags.Directory, InRoot, out _);
        return parent is not null ? Own(parent) : WalkToParent(root, components, create, owner);
    }

    private SafePathHandle WalkToParent(SafeHandle root, IReadOnlyList<string> components, bool create, (uint Uid, uint Gid)? owner)
    {
        SafePathHandle current = Own(DuplicateRoot(root));
        for (int i = 0; i < components.Count - 1; i++)
        {
            string prefix = TargetPath.Join(components.Take(i + 1));
            SafePathHandle? next = MountSyscalls.TryOpenAt2(root, prefix, OpenFlags.Path | OpenFlags.Directory, InRoot, out int errno);
            bool created = false;
            if (next is null && errno == (int)Errno.ENOENT && create)
            {
                created = CreateIn(current, components[i], isDirectory: true, prefix);
                next = MountSyscalls.TryOpenAt2(root, prefix, OpenFlags.Path | OpenFlags.Directory, InRoot, out errno);
            }

            current = Own(next ?? throw Unresolvable(prefix, errno));
            if (created && owner is { } o)
            {
                GiveTo(current, MountSyscalls.Statx(current, prefix), o, prefix);
            }
        }

        return current;
    }

    // The last name is looked up in its resolved parent, never through a symlink (RESOLVE_NO_SYMLINKS with O_NOFOLLOW returns
    // a link itself, which Attach refuses). With create, mkdirat comes first: EEXIST costs what a failed lookup would.
    private void ResolveLeaf(SafePathHandle parent, bool create, bool lastIsDirectory, (uint Uid, uint Gid)? owner)
    {
        bool created = create && CreateIn(parent, LeafName, lastIsDirectory, Path);
        SafePathHandle handle = Own(MountSyscalls.TryOpenAt2(parent, LeafName, LastComponent, InParent, out int errno) ?? throw Unresolvable(Path, errno));
        StatxInfo info = MountSyscalls.Statx(handle, Path);
        if (created && owner is { } o)
        {
            GiveTo(handle, info, o, Path);
            info = MountSyscalls.Statx(handle, Path);
        }

        Handle = handle;
        Parent = parent;
        Info = info;
    }

    /// <summary>
    /// Creates ONE name in an already resolved directory (a directory, or an empty file) and records it for undoing; false
    /// when it exists already.
    /// </summary>
    private bool CreateIn(SafePathHandle directory, string name, bool isDirectory, string path)
    {
        int errno = isDirectory ? MountSyscalls.TryMkdirAt(directory, name, 0x1ED /* 0755 */) : CreateEmptyFile(directory, name);
        if (errno == (int)Errno.EEXIST)
        {
            return false;
        }

        if (errno != 0)
        {
            throw new HotplugException(HotplugFailure.CreateTargetFailed, Path, $"Could not create '{path}' inside the container.",
                SyscallException.Create(isDirectory ? "mkdirat" : "openat2", errno, path));
        }

        _created.Add(new Created(directory, name, isDirectory, path));
        return true;
    }

    /// <summary>One name in an already resolved directory: no symlink, no "..", no crossing out of it.</summary>
    private const ResolveFlags InParent = ResolveFlags.Beneath | ResolveFlags.NoSymlinks | ResolveFlags.NoMagicLinks;

    private HotplugException Unresolvable(string prefix, int errno)
    {
        SyscallException cause = SyscallException.Create("openat2", errno, prefix);
        return errno == (int)Errno.ENOENT
            ? new HotplugException(HotplugFailure.TargetNotFound, Path, $"'{prefix}' does not exist inside the container.", cause)
            : new HotplugException(HotplugFailure.InvalidTarget, Path, $"'{prefix}' cannot be resolved safely inside the container.", cause);
    }

    private SafePathHandle Own(SafePathHandle handle)
    {
        _handles.Add(handle);
        return handle;
    }

    /// <summary>
    /// Lazily detaches the mount attached at this target: a directory mount through <paramref name="mount"/>, a descriptor
    /// of its root, together with anything stacked on it since (umount2 names the mount on top: kernel-notes N18); a file
    /// mount, which cannot be a working directory, by name in the parent (the mount on top at that name).
    /// </summary>
    internal DetachOutcome TryDetachOwn(NamespaceWorker worker, SafeHandle mount, SafeHandle? returnTo = null)
    {
        if (!Info.IsDirectory)
        {
            int errno = worker.TryDetachByName(Parent, LeafName, returnTo);
            return new DetachOutcome(errno, 0, errno == 0);
        }

        int result = worker.TryDetachDirectoryMountAndCovering(mount, returnTo, out int covering, out bool detached);
        return new DetachOutcome(result, covering, detached);
    }

    /// <summary>Removes what <see cref="Resolve"/> created, innermost first. Best effort: a container may have filled a directory since.</summary>
    public void RemoveCreated()
    {
        for (int i = _created.Count - 1; i >= 0; i--)
        {
            MountSyscalls.TryUnlinkAt(_created[i].Directory, _created[i].Name, _created[i].IsDirectory);
        }

        _created.Clear();
    }

    public void Dispose()
    {
        foreach (SafePathHandle handle in _handles)
        {
            handle.Dispose();
        }

        _handles.Clear();
    }

    // The entry is changed through the descriptor that resolving returned, never by name again. Only an entry that
    // host root owns is changed: if the container swapped in one of its own meanwhile, it already has an owner.
    private void GiveTo(SafePathHandle entry, StatxInfo info, (uint Uid, uint Gid) owner, string prefix)
    {
        if (info.Uid != 0)
        {
            return;
        }

        int errno = MountSyscalls.TryChownHandle(entry, owner.Uid, owner.Gid);
        if (errno != 0)
        {
            throw new HotplugException(HotplugFailure.CreateTargetFailed, Path,
                $"Could not give '{prefix}' inside the container to the container's root (host uid {owner.Uid}, gid {owner.Gid}).",
                SyscallException.Create("fchownat", errno, prefix));
        }
    }

    private static int CreateEmptyFile(SafeHandle directory, string name)
    {
        using SafePathHandle? file = MountSyscalls.TryOpenAt2(directory, name,
            OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.WriteOnly | OpenFlags.NoFollow,
            ResolveFlags.Beneath | ResolveFlags.NoSymlinks | ResolveFlags.NoMagicLinks, out int errno, mode: 0x1A4 /* 0644 */);
        return file is null ? errno : 0;
    }

    private static SafePathHandle DuplicateRoot(SafeHandle root) =>
        MountSyscalls.OpenAt2(root, ".", OpenFlags.Path | OpenFlags.Directory, ResolveFlags.Beneath);

    /// <summary>A directory or file this target created: the name, in the directory it was made in, to remove it again.</summary>
    private sealed record Created(SafePathHandle Directory, string Name, bool IsDirectory, string Path);
}
