namespace MountHotplug;

/// <summary>What a successful unplug did.</summary>
/// <param name="Target">The normalized path inside the namespace.</param>
/// <param name="MountId">The id of the mount that was unmounted (statx: the unique id on 6.8+).</param>
/// <param name="Mount">Its mountinfo row as the namespace saw it just before, if it was found.</param>
/// <param name="Lazy">Whether it was detached lazily (MNT_DETACH).</param>
/// <param name="Holders">With <paramref name="Lazy"/>: the processes that still use it.</param>
/// <param name="MountsBelow">With <paramref name="Lazy"/>: mount points below it that went with it.</param>
public sealed record UnmountResult(string Target, ulong MountId, MountInfo? Mount, bool Lazy, IReadOnlyList<MountHolder> Holders,
    IReadOnlyList<string> MountsBelow);

/// <summary>What happened to one path that -RemoveTarget was asked to remove.</summary>
public sealed record RemovedPath(string Path, bool Removed, string? Reason);

public sealed partial class ContainerSession
{
    /// <summary>
    /// Unmounts the mount <paramref name="mount"/> attached (by <see cref="Attach"/>, here or in another process), only if the
    /// mount at its target is still that mount, and records that it was removed.
    /// </summary>
    public UnmountResult Unmount(StagedMount mount, bool lazy, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(mount);
        if (mount.GetState() != StagedMountState.Attached || mount.Target is null)
        {
            throw new InvalidOperationException($"The mount of '{mount.Source}' is {mount.State.ToLowerInvariant()}, not attached.");
        }

        UnmountResult result = Unmount(mount.Target, lazy, mount.MountId, trace);
        mount.MarkRemoved(mount.CreatedPaths);
        return result;
    }

    /// <summary>
    /// Removes the entries <paramref name="paths"/> that were created to reach <paramref name="mount"/>'s target (see
    /// <see cref="RemoveCreatedPaths(IReadOnlyList{string}, Action{string}?)"/>); the removed ones are no longer listed in its
    /// CreatedPaths.
    /// </summary>
    public IReadOnlyList<RemovedPath> RemoveCreatedPaths(StagedMount mount, IReadOnlyList<string> paths, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(mount);
        IReadOnlyList<RemovedPath> results = RemoveCreatedPaths(paths, trace);
        foreach (RemovedPath removed in results.Where(r => r.Removed))
        {
            mount.ForgetCreatedPath(removed.Path);
        }

        return results;
    }

    /// <summary>
    /// Unmounts the top mount at <paramref name="target"/> inside the namespace: the thread inside changes its working
    /// directory to the already resolved parent and calls umount2 on the single leaf name with UMOUNT_NOFOLLOW, so no
    /// path string from the container is looked up there. A busy mount is not touched (unless <paramref name="lazy"/>);
    /// the error then names what holds it.
    /// </summary>
    /// <param name="expectedMountId">When given, unmount only if the mount at the path has this id (the same kind of id
    /// statx gives on this kernel), so that a mount stacked on top later is never taken instead.</param>
    public UnmountResult Unmount(string target, bool lazy, ulong? expectedMountId = null, Action<string>? trace = null) =>
        Run(trace, () => UnmountCore(target, lazy, expectedMountId));

    private UnmountResult UnmountCore(string target, bool lazy, ulong? expectedMountId)
    {
        IReadOnlyList<string> components = TargetPath.TrySplit(target, out string? reason)
            ?? throw new HotplugException(HotplugFailure.InvalidTarget, target ?? string.Empty, $"Invalid path '{target}': {reason}.");
        string path = TargetPath.Join(components);
        string leaf = components[^1];

        SafePathHandle root = CurrentRoot(path);
        using SafePathHandle parent = OpenParent(root, components, path);

        StatxInfo info;
        int oldId;
        using (SafePathHandle leafHandle = OpenLeaf(parent, leaf, path))
        {
            info = MountSyscalls.Statx(leafHandle, path);
            Trace?.Invoke($"openat2(fd {parent.DescriptorNumber}, \"{leaf}\", O_PATH|O_NOFOLLOW, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) = fd {leafHandle.DescriptorNumber} ({info.KindName}{(info.IsMountRoot ? $", mount {info.MountId}" : ", not a mount point")})");
            if (info.IsSymlink)
            {
                throw InRootPath.SymlinkRefused(path);
            }

            if (!info.IsMountRoot)
            {
                throw new HotplugException(HotplugFailure.NotMounted, path, $"'{path}' is not a mount point inside the namespace; nothing was unmounted.");
            }

            // Mountinfo rows and their parent links use the old 32-bit ids.
            oldId = (int)(info.MountIdIsUnique ? MountSyscalls.Statx(leafHandle, path, uniqueMountId: false).MountId : info.MountId);
        }

        if (expectedMountId is { } expected && expected != info.MountId)
        {
            throw new HotplugException(HotplugFailure.MountChanged, path,
                $"The mount on top at '{path}' is mount {info.MountId}, not mount {expected} that was attached there: it was unmounted already, or another mount was stacked on it. Nothing was unmounted.");
        }

        IReadOnlyList<MountInfo> table = ReadTable();
        MountInfo? row = table.FirstOrDefault(m => m.MountId == oldId);
        List<string> below = table.Where(m => m.ParentId == oldId).Select(m => m.MountPoint).ToList();
        IReadOnlyList<MountHolder> holders = lazy ? MountHolders.Find(info.MountId, info.MountIdIsUnique) : Array.Empty<MountHolder>();

        NamespaceWorker worker = EnterNamespace(path);
        UnmountFlags flags = lazy ? UnmountFlags.Detach : UnmountFlags.None;
        int errno = worker.TryUnmountAt(parent, leaf, flags, root);
        Trace?.Invoke($"fchdir(fd {parent.DescriptorNumber}) + umount2(\"{leaf}\", {(lazy ? "MNT_DETACH|" : string.Empty)}UMOUNT_NOFOLLOW) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
        if (errno == (int)Errno.EBUSY)
        {
            holders = MountHolders.Find(info.MountId, info.MountIdIsUnique);
            throw new HotplugException(HotplugFailure.MountBusy, path, BusyMessage(path, info.MountId, holders, below),
                SyscallException.Create("umount2", errno, path));
        }

        if (errno != 0)
        {
            throw new HotplugException(HotplugFailure.UnmountFailed, path, $"Could not unmount '{path}' inside the namespace.",
                SyscallException.Create("umount2", errno, path, detail: errno == (int)Errno.EINVAL
                    ? "It stopped being a mount point meanwhile, or it is locked (mounted by a less privileged user namespace)."
                    : null));
        }

        using (SafePathHandle? again = InRootPath.TryOpenChild(parent, leaf, out _))
        {
            if (again is not null)
            {
                StatxInfo now = MountSyscalls.Statx(again, path, info.MountIdIsUnique);
                Trace?.Invoke($"statx(\"{path}\") mount id {now.MountId}{(now.IsMountRoot ? string.Empty : " (not a mount point)")}, unmounted {info.MountId}");
                if (now.MountId == info.MountId)
                {
                    throw new HotplugException(HotplugFailure.UnmountNotVerified, path,
                        $"umount2 returned 0, but '{path}' still shows mount {info.MountId}.");
                }
            }
        }

        return new UnmountResult(path, info.MountId, row, lazy, holders, below);
    }

    /// <summary>
    /// Removes what Move-MountIntoNamespace created to reach a target (innermost first): an empty directory, or an
    /// empty regular file. Anything else — a directory that is not empty, a file with data, a symlink put in its
    /// place — is left, with the reason.
    /// </summary>
    /// <summary>The reason of a created directory left because something else is in it (which may go later in the same pipeline).</summary>
    public const string NotEmptyReason = "the directory is not empty";

    public IReadOnlyList<RemovedPath> RemoveCreatedPaths(IReadOnlyList<string> createdPaths, Action<string>? trace = null) =>
        Run(trace, () => RemoveCreatedPathsCore(createdPaths));

    private IReadOnlyList<RemovedPath> RemoveCreatedPathsCore(IReadOnlyList<string> createdPaths)
    {
        var results = new List<RemovedPath>();
        foreach (string created in createdPaths.Reverse())
        {
            results.Add(RemoveOne(created));
        }

        return results;
    }

    private RemovedPath RemoveOne(string created)
    {
        IReadOnlyList<string>? components = TargetPath.TrySplit(created, out string? reason);
        if (components is null)
        {
            return new RemovedPath(created, false, reason);
        }

        string path = TargetPath.Join(components);
        try
        {
            SafePathHandle root = CurrentRoot(path);
            using SafePathHandle parent = OpenParent(root, components, path);
            using SafePathHandle? leaf = InRootPath.TryOpenChild(parent, components[^1], out int errno);
            if (leaf is null)
            {
                return new RemovedPath(path, errno == (int)Errno.ENOENT, errno == (int)Errno.ENOENT ? "already gone" : ErrnoText.Describe(errno));
            }

            StatxInfo info = MountSyscalls.Statx(leaf, path);
            if (info.IsMountRoot)
            {
                return new RemovedPath(path, false, "something is mounted on it");
            }

            if (!info.IsDirectory && !(info.IsRegularFile && info.Size == 0))
            {
                return new RemovedPath(path, false, info.IsRegularFile ? "the file is no longer empty" : $"it is now a {info.KindName}");
            }

            errno = MountSyscalls.TryUnlinkAt(parent, components[^1], info.IsDirectory);
            Trace?.Invoke($"unlinkat(fd {parent.DescriptorNumber}, \"{components[^1]}\"{(info.IsDirectory ? ", AT_REMOVEDIR" : string.Empty)}) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
            return errno switch
            {
                0 => new RemovedPath(path, true, null),
                (int)Errno.ENOTEMPTY or (int)Errno.EEXIST => new RemovedPath(path, false, NotEmptyReason),
                (int)Errno.EBUSY => new RemovedPath(path, false, "it is a mount point (in this or another mount namespace)"),
                (int)Errno.ENOENT => new RemovedPath(path, true, "already gone"),
                _ => new RemovedPath(path, false, $"{ErrnoText.Name(errno)} ({ErrnoText.Describe(errno)})"),
            };
        }
        catch (HotplugException ex)
        {
            return new RemovedPath(path, false, ex.Message);
        }
        catch (SyscallException ex)
        {
            return new RemovedPath(path, false, ex.Message);
        }
    }

    internal static string BusyMessage(string path, ulong mountId, IReadOnlyList<MountHolder> holders, IReadOnlyList<string> below)
    {
        var parts = new List<string>();
        if (holders.Count > 0)
        {
            parts.Add(string.Join("; ", holders.Take(10).Select(h => h.ToString()))
                + (holders.Count > 10 ? $"; and {holders.Count - 10} more" : string.Empty));
        }

        if (below.Count > 0)
        {
            parts.Add($"{(below.Count == 1 ? "a mount is" : "mounts are")} mounted below it at {string.Join(", ", below.Take(10))}");
        }

        string what = parts.Count > 0
            ? string.Join("; ", parts)
            : "no process visible from here holds a file, working or root directory on it, so a kernel user holds it (a loop device, swap file, NFS export, or a process in a PID namespace this one cannot see)";
        return $"'{path}' (mount {mountId}) is busy, so it was not unmounted: {what}.";
    }

    private IReadOnlyList<MountInfo> ReadTable()
    {
        try
        {
            return MountInfoParser.Read(_pid);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<MountInfo>();
        }
    }

    private static SafePathHandle OpenParent(SafeHandle root, IReadOnlyList<string> components, string path)
    {
        string parentPath = components.Count == 1 ? "." : TargetPath.Join(components.Take(components.Count - 1));
        return InRootPath.TryOpen(root, parentPath, OpenFlags.Path | OpenFlags.Directory, out int errno)
            ?? throw (errno == (int)Errno.ENOENT
                ? new HotplugException(HotplugFailure.TargetNotFound, path, $"'{parentPath}' does not exist inside the namespace.",
                    SyscallException.Create("openat2", errno, parentPath))
                : new HotplugException(HotplugFailure.InvalidTarget, path, $"'{parentPath}' cannot be resolved safely inside the namespace.",
                    SyscallException.Create("openat2", errno, parentPath)));
    }

    private static SafePathHandle OpenLeaf(SafeHandle parent, string leaf, string path) =>
        InRootPath.TryOpenChild(parent, leaf, out int errno)
        ?? throw (errno == (int)Errno.ENOENT
            ? new HotplugException(HotplugFailure.TargetNotFound, path, $"'{path}' does not exist inside the namespace.",
                SyscallException.Create("openat2", errno, path))
            : new HotplugException(HotplugFailure.InvalidTarget, path, $"'{path}' cannot be resolved safely inside the namespace.",
                SyscallException.Create("openat2", errno, path)));
}
