namespace MountHotplug.Native;

/// <summary>
/// A target path resolved inside a container's root, held open as an O_PATH descriptor, with what was created
/// to reach it so that a failed hot-plug can remove it again.
/// </summary>
public sealed class ContainerTarget : IDisposable
{
    /// <summary>Symlinks (absolute or "..") stay inside the root; /proc/self/root style magic links are refused.</summary>
    public const ResolveFlags InRoot = ResolveFlags.InRoot | ResolveFlags.NoMagicLinks;

    /// <summary>
    /// How the last component is opened: a symlink there is not followed but opened itself (and then refused). The
    /// container may swap the target directory for a link to /etc, or, in a chroot, to its root directory, which is
    /// no mount point; following it would put the mount there, and a check that looks the path up again would follow
    /// the same link and call it a success. move_mount does not follow a final link either without T_SYMLINKS.
    /// </summary>
    public const OpenFlags LastComponent = OpenFlags.Path | OpenFlags.NoFollow;

    private readonly List<(SafePathHandle Parent, string Name, bool IsDirectory, string Path)> _created = new();

    private ContainerTarget(string path, SafePathHandle handle, SafePathHandle parent, string leafName, StatxInfo info)
    {
        Path = path;
        Handle = handle;
        Parent = parent;
        LeafName = leafName;
        Info = info;
    }

    /// <summary>The normalized path inside the container.</summary>
    public string Path { get; }

    public SafePathHandle Handle { get; }

    /// <summary>The directory that holds the target, also resolved inside the root.</summary>
    public SafePathHandle Parent { get; }

    public string LeafName { get; }

    public StatxInfo Info { get; }

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
        string fullPath = TargetPath.Join(components);
        var created = new List<(SafePathHandle, string, bool, string)>();
        SafePathHandle? parent = null;
        SafePathHandle? current = null;
        try
        {
            for (int i = 0; i < components.Count; i++)
            {
                string prefix = TargetPath.Join(components.Take(i + 1));
                bool isLast = i == components.Count - 1;
                OpenFlags open = isLast ? LastComponent : OpenFlags.Path;
                SafePathHandle? next = MountSyscalls.TryOpenAt2(root, prefix, open, InRoot, out int errno);
                if (next is null && errno == (int)Errno.ENOENT && create)
                {
                    SafeHandle dir = (SafeHandle?)current ?? root;
                    bool makeDirectory = !isLast || lastIsDirectory;
                    int createErrno = makeDirectory
                        ? MountSyscalls.TryMkdirAt(dir, components[i], 0x1ED /* 0755 */)
                        : CreateEmptyFile(dir, components[i]);
                    if (createErrno != 0 && createErrno != (int)Errno.EEXIST)
                    {
                        throw new HotplugException(HotplugFailure.CreateTargetFailed, fullPath,
                            $"Could not create '{prefix}' inside the container.",
                            SyscallException.Create(makeDirectory ? "mkdirat" : "openat2", createErrno, prefix));
                    }

                    if (createErrno == 0)
                    {
                        created.Add((current ?? DuplicateRoot(root), components[i], makeDirectory, prefix));
                        current = null; // now owned by the created list
                    }

                    next = MountSyscalls.TryOpenAt2(root, prefix, open, InRoot, out errno);
                    if (next is not null && createErrno == 0 && owner is { } o)
                    {
                        GiveTo(next, o, fullPath, prefix);
                    }
                }

                if (next is null)
                {
                    SyscallException cause = SyscallException.Create("openat2", errno, prefix);
                    throw errno switch
                    {
                        (int)Errno.ENOENT => new HotplugException(HotplugFailure.TargetNotFound, fullPath,
                            $"'{prefix}' does not exist inside the container.", cause),
                        _ => new HotplugException(HotplugFailure.InvalidTarget, fullPath,
                            $"'{prefix}' cannot be resolved safely inside the container.", cause),
                    };
                }

                parent?.Dispose();
                parent = current;
                current = next;
            }

            StatxInfo info = MountSyscalls.Statx(current!, fullPath);
            var target = new ContainerTarget(fullPath, current!, parent ?? DuplicateRoot(root), components[^1], info);
            target._created.AddRange(created);
            return target;
        }
        catch
        {
            current?.Dispose();
            parent?.Dispose();
            RemoveCreated(created);
            throw;
        }
    }

    /// <summary>Removes what <see cref="Resolve"/> created, innermost first. Best effort: a container may have filled a directory since.</summary>
    public void RemoveCreated() => RemoveCreated(_created);

    public void Dispose()
    {
        Handle.Dispose();
        Parent.Dispose();
        foreach (var entry in _created)
        {
            entry.Parent.Dispose();
        }

        _created.Clear();
    }

    private static void RemoveCreated(List<(SafePathHandle Parent, string Name, bool IsDirectory, string Path)> created)
    {
        for (int i = created.Count - 1; i >= 0; i--)
        {
            MountSyscalls.TryUnlinkAt(created[i].Parent, created[i].Name, created[i].IsDirectory);
            created[i].Parent.Dispose();
        }

        created.Clear();
    }

    // The entry is changed through the descriptor that resolving returned, never by name again. Only an entry that
    // host root owns is changed: if the container swapped in one of its own meanwhile, it already has an owner.
    private static void GiveTo(SafePathHandle entry, (uint Uid, uint Gid) owner, string fullPath, string prefix)
    {
        StatxInfo info = MountSyscalls.Statx(entry, prefix);
        if (info.Uid != 0)
        {
            return;
        }

        int errno = MountSyscalls.TryChownHandle(entry, owner.Uid, owner.Gid);
        if (errno != 0)
        {
            entry.Dispose();
            throw new HotplugException(HotplugFailure.CreateTargetFailed, fullPath,
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
}
