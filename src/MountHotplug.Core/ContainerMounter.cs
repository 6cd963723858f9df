namespace MountHotplug;

/// <summary>What a successful hot-plug did.</summary>
/// <param name="Target">The normalized path inside the container.</param>
/// <param name="MountId">The id of the attached mount.</param>
/// <param name="CreatedPaths">Directories (or the empty file) created to reach the target, outermost first.</param>
/// <param name="ReplacedMountId">With -Replace: the mount that was on top before and has been detached.</param>
public sealed record AttachResult(string Target, ulong MountId, IReadOnlyList<string> CreatedPaths, ulong? ReplacedMountId = null);

/// <summary>
/// Attaches detached mounts at paths inside one running process's mount namespace, resolving every target inside
/// that process's own root. Enters the namespace once (a <see cref="NamespaceWorker"/>) for all the mounts it attaches.
/// Usable from any .NET program; the cmdlets are a thin layer over it.
/// </summary>
public sealed partial class ContainerMounter : IDisposable
{
    private readonly SafePidfdHandle _pidfd;
    private readonly int _pid;
    private NamespaceWorker? _worker;
    private readonly string _procRoot;
    private SafePathHandle? _root;
    private StatxInfo _rootInfo;

    /// <param name="pidfd">Pins the container process; not owned, must outlive this object.</param>
    public ContainerMounter(SafePidfdHandle pidfd, int pid)
    {
        _pidfd = pidfd;
        _pid = pid;
        _procRoot = $"/proc/{pid}/root";
    }

    /// <summary>Called with a description of each system call made (for -Verbose).</summary>
    public Action<string>? Trace { get; set; }

    /// <summary>
    /// Opens the process's own root directory as the host sees it (/proc/PID/root) and proves through the
    /// pidfd that /proc/PID was still that process when it was opened. For a chroot-based container this is not
    /// the root of its mount namespace, which is why targets are resolved from here.
    /// </summary>
    public static SafePathHandle OpenProcessRoot(SafePidfdHandle pidfd, int pid, string target)
    {
        // Only the check AFTER the open matters: if the pinned process is alive then, /proc/PID was still it when
        // its root was opened (a reused PID needs the pinned process dead first).
        SafePathHandle root;
        try
        {
            root = MountSyscalls.Open($"/proc/{pid}/root", OpenFlags.Path | OpenFlags.Directory);
        }
        catch (SyscallException ex) when (ex.Errno is Errno.ENOENT or Errno.ESRCH)
        {
            throw Exited(pid, target, ex);
        }

        if (!MountSyscalls.IsAlive(pidfd))
        {
            root.Dispose();
            throw Exited(pid, target, null);
        }

        return root;
    }

    /// <summary>
    /// Moves <paramref name="mount"/> (detached) onto <paramref name="target"/> inside the container and verifies it
    /// is there. On any failure nothing is left: no mount, no directory or file it created.
    /// </summary>
    /// <param name="replace">
    /// Swap the mount that is on top at <paramref name="target"/> atomically: MOVE_MOUNT_BENEATH puts the new mount
    /// under it, then the old top is detached, so the path never shows the directory beneath. Needs a target that is
    /// a mount point, and Linux 6.5; there is no fallback to stacking.
    /// </param>
    /// <param name="createOwner">Host uid and gid to give created entries (the container's root in its user namespace).</param>
    /// <param name="expectedTop">With <paramref name="replace"/>: replace only if the mount on top at the target has this id (the kind
    /// statx gives), so that a mount put there since the caller looked is never the one detached.</param>
    public AttachResult Attach(SafeMountHandle mount, StatxInfo mountInfo, string target, bool createTarget, bool allowStacking, bool replace = false,
        (uint Uid, uint Gid)? createOwner = null, ulong? expectedTop = null)
    {
        IReadOnlyList<string> components = TargetPath.TrySplit(target, out string? reason)
            ?? throw new HotplugException(HotplugFailure.InvalidTarget, target ?? string.Empty, $"Invalid target '{target}': {reason}.");
        string path = TargetPath.Join(components);

        SafePathHandle root = CurrentRoot(path);
        using ContainerTarget resolved = ContainerTarget.Resolve(root, components, createTarget && !replace, mountInfo.IsDirectory, createOwner);
        bool attached = false;

        // Everything after the target exists is undone on ANY exception, not only on our own failures: Trace is a
        // caller's callback (the cmdlets' WriteVerbose, which throws PipelineStoppedException on Ctrl+C), and statx or
        // the worker can fail too. Otherwise a stop at the wrong moment left a created directory, or an attached mount
        // that nobody reported.
        try
        {
            Trace?.Invoke($"openat2(/proc/{_pid}/root, \"{path}\", O_PATH, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) = fd {resolved.Handle.DescriptorNumber} ({resolved.Info.KindName}{(resolved.Info.IsMountRoot ? $", mount point of mount {resolved.Info.MountId}" : string.Empty)}{(resolved.CreatedPaths.Count > 0 ? ", created " + string.Join(", ", resolved.CreatedPaths) : string.Empty)})");
            if (resolved.Info.IsSymlink)
            {
                throw new HotplugException(HotplugFailure.TargetIsSymlink, path,
                    $"'{path}' is a symbolic link inside the container; a mount is never placed through a link in the last component, which the container could point anywhere inside it.");
            }

            if (resolved.Info.IsDirectory != mountInfo.IsDirectory)
            {
                throw new HotplugException(HotplugFailure.TargetTypeMismatch, path,
                    $"Cannot mount a {(mountInfo.IsDirectory ? "directory" : "file")} onto '{path}', which is a {resolved.Info.KindName} inside the container.");
            }

            if (replace)
            {
                return Replace(mount, mountInfo, root, components, resolved, expectedTop);
            }

            if (resolved.Info.IsMountRoot && !allowStacking)
            {
                throw new HotplugException(HotplugFailure.TargetIsMountPoint, path,
                    $"'{path}' is already a mount point inside the container; stacking another mount on it hides the first.");
            }

            NamespaceWorker worker = EnterNamespace(path);
            int errno = worker.TryMoveMount(mount, resolved.Handle, MoveMountFlags.None);
            attached = errno == 0;
            Trace?.Invoke($"move_mount(fd {mount.DescriptorNumber}, \"\", fd {resolved.Handle.DescriptorNumber}, \"\", F_EMPTY_PATH|T_EMPTY_PATH) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
            if (errno != 0)
            {
                throw new HotplugException(HotplugFailure.MoveMountFailed, path, $"Could not attach the mount at '{path}' inside the container.",
                    SyscallException.Create("move_mount", errno, null, path));
            }

            Verify(root, components, path, mountInfo);
            return new AttachResult(path, mountInfo.MountId, resolved.CreatedPaths);
        }
        catch (Exception failure)
        {
            int undone = attached ? resolved.TryDetachTopmost(_worker!, mount, root) : 0;
            resolved.RemoveCreated();

            // Said through the callback only for our own refusals: after anything else (a stop) it may throw again.
            if (attached && failure is HotplugException)
            {
                Trace?.Invoke($"undo: umount2(MNT_DETACH) = {(undone == 0 ? "0" : ErrnoText.Name(undone))}");
            }

            throw;
        }
    }

    // MOVE_MOUNT_BENEATH, then a lazy detach of the old top: a reader of the path sees the old mount, then the new
    // one, and never the directory underneath. The old top is detached lazily because programs may have files open
    // on it at this very moment; they keep them until they close them.
    private AttachResult Replace(SafeMountHandle mount, StatxInfo mountInfo, SafeHandle root, IReadOnlyList<string> components, ContainerTarget resolved,
        ulong? expectedTop)
    {
        string path = resolved.Path;
        if (!resolved.Info.IsMountRoot)
        {
            throw new HotplugException(HotplugFailure.ReplaceTargetNotMounted, path,
                $"'{path}' is not a mount point inside the container, so there is nothing for -Replace to swap.");
        }

        // resolved.Handle is what the swap acts on (beneath it, then detaching it): checking its id checks the mount that goes.
        if (expectedTop is { } expected && expected != resolved.Info.MountId)
        {
            throw new HotplugException(HotplugFailure.MountChanged, path,
                $"The mount on top at '{path}' is mount {resolved.Info.MountId}, not mount {expected} that was to be replaced; nothing was changed.");
        }

        ulong oldTop = resolved.Info.MountId;
        NamespaceWorker worker = EnterNamespace(path);
        int errno = worker.TryMoveMount(mount, resolved.Handle, MoveMountFlags.Beneath);
        Trace?.Invoke($"move_mount(fd {mount.DescriptorNumber}, \"\", fd {resolved.Handle.DescriptorNumber}, \"\", F_EMPTY_PATH|T_EMPTY_PATH|MOVE_MOUNT_BENEATH) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
        if (errno != 0)
        {
            throw new HotplugException(HotplugFailure.ReplaceFailed, path,
                $"Could not put the new mount beneath mount {oldTop} at '{path}' (MOVE_MOUNT_BENEATH); nothing was changed.",
                SyscallException.Create("move_mount", errno, null, path, errno == (int)Errno.EINVAL
                    ? "The kernel refuses to mount beneath the container's root mount, a mount locked by a user namespace, or where mount propagation would put a copy on top of itself."
                    : null));
        }

        // The old top is still the topmost mount there; resolved.Handle is its root.
        errno = resolved.TryDetachTopmost(worker, resolved.Handle, root);
        Trace?.Invoke($"umount2({(mountInfo.IsDirectory ? "\".\" (fchdir to the old top)" : $"\"{resolved.LeafName}\"")}, MNT_DETACH|UMOUNT_NOFOLLOW) = {(errno == 0 ? "0" : ErrnoText.Name(errno))} (old top mount {oldTop})");
        if (errno != 0)
        {
            string undone = "it is still on top";
            if (mountInfo.IsDirectory)
            {
                int undo = worker.TryDetachDirectoryMount(mount, root);
                undone = undo == 0 ? "it is still on top, and the new mount beneath it was detached again" : $"it is still on top, and the new mount beneath it could not be detached ({ErrnoText.Name(undo)})";
            }

            throw new HotplugException(HotplugFailure.ReplaceFailed, path,
                $"The new mount is beneath mount {oldTop} at '{path}', but the old top mount could not be detached: {undone}.",
                SyscallException.Create("umount2", errno, path));
        }

        try
        {
            Verify(root, components, path, mountInfo);
        }
        catch (HotplugException ex)
        {
            // The old top is gone already; taking the new mount away too would leave the path empty. Say what is there.
            throw new HotplugException(HotplugFailure.MoveNotVerified, path, ex.Message.Replace("; the move was undone.", "; the old mount was already detached, so the new one was left in place.", StringComparison.Ordinal), ex.Syscall);
        }

        return new AttachResult(path, mountInfo.MountId, Array.Empty<string>(), oldTop);
    }

    /// <summary>Ends the namespace thread. Call it from the thread that calls <see cref="Attach"/>, once no Attach runs.</summary>
    public void Dispose()
    {
        _worker?.Dispose();
        _worker = null;
        _root?.Dispose();
        _root = null;
    }

    /// <summary>
    /// The process's root as it is NOW: kept open between calls, and opened again whenever /proc/PID/root no longer
    /// leads to the same directory (the container pivoted or chrooted since). Checked on each call with one statx and
    /// the pidfd, instead of an open, the pidfd and a close: a hot-plug makes about fifteen system calls, at 1.5-4 µs
    /// each on the project's VM (issue 7), and the check keeps every target resolved in the root the process has now.
    /// </summary>
    private SafePathHandle CurrentRoot(string target)
    {
        if (_root is not null)
        {
            int errno = MountSyscalls.TryStatxPath(_procRoot, _rootInfo.MountIdIsUnique, out StatxInfo now);
            bool same = errno == 0 && now.Inode == _rootInfo.Inode && now.MountId == _rootInfo.MountId
                && now.DeviceMajor == _rootInfo.DeviceMajor && now.DeviceMinor == _rootInfo.DeviceMinor;

            // Only the check AFTER the statx proves /proc/PID was still the pinned process when it was looked at.
            if (same && MountSyscalls.IsAlive(_pidfd))
            {
                return _root;
            }

            _root.Dispose();
            _root = null;
        }

        SafePathHandle root = OpenProcessRoot(_pidfd, _pid, target);
        try
        {
            _rootInfo = MountSyscalls.Statx(root, _procRoot);
        }
        catch
        {
            root.Dispose();
            throw;
        }

        _root = root;
        return root;
    }

    private NamespaceWorker EnterNamespace(string path)
    {
        if (_worker is not null)
        {
            return _worker;
        }

        try
        {
            _worker = NamespaceWorker.Enter(_pidfd, $"mount namespace of PID {_pid}");
            Trace?.Invoke($"unshare(CLONE_FS) + setns(pidfd of PID {_pid}, CLONE_NEWNS) = 0 (thread {_worker.NativeThreadId})");
            return _worker;
        }
        catch (SyscallException ex) when (ex.Errno == Errno.ESRCH)
        {
            throw Exited(_pid, path, ex);
        }
        catch (SyscallException ex)
        {
            throw new HotplugException(HotplugFailure.EnterNamespaceFailed, path, $"Could not enter the mount namespace of PID {_pid}.", ex);
        }
    }

    // A move that cannot be seen at its place afterwards is not a success (LXD #18899: "silently succeeds but does
    // not show up"): look the path up again from the root and compare the mount id with the one that was moved.
    private void Verify(SafeHandle root, IReadOnlyList<string> components, string path, StatxInfo mountInfo)
    {
        using SafePathHandle? again = MountSyscalls.TryOpenAt2(root, path, ContainerTarget.LastComponent, ContainerTarget.InRoot, out int errno);
        if (again is null)
        {
            throw new HotplugException(HotplugFailure.MoveNotVerified, path, $"The mount was attached but '{path}' could not be looked up again.",
                SyscallException.Create("openat2", errno, path));
        }

        StatxInfo seen = MountSyscalls.Statx(again, path, mountInfo.MountIdIsUnique);
        Trace?.Invoke($"statx(\"{path}\") mount id {seen.MountId}, expected {mountInfo.MountId}");
        if (seen.MountId != mountInfo.MountId)
        {
            throw new HotplugException(HotplugFailure.MoveNotVerified, path,
                $"After move_mount, '{path}' inside the container shows mount {seen.MountId}, not the moved mount {mountInfo.MountId}; the move was undone.");
        }
    }

    private static HotplugException Exited(int pid, string target, SyscallException? cause) =>
        new(HotplugFailure.ContainerExited, target, $"The container process {pid} has exited; nothing was changed in its namespace.", cause);
}
