namespace MountHotplug.Native;

/// <summary>What a successful hot-plug did.</summary>
public sealed record AttachResult(string Target, ulong MountId, IReadOnlyList<string> CreatedPaths);

/// <summary>
/// Attaches detached mounts at paths inside one running process's mount namespace, resolving every target inside
/// that process's own root. Enters the namespace once (a <see cref="NamespaceWorker"/>) for all the mounts it attaches.
/// Usable from any .NET program; the cmdlets are a thin layer over it.
/// </summary>
public sealed class ContainerMounter : IDisposable
{
    private readonly SafePidfdHandle _pidfd;
    private readonly int _pid;
    private NamespaceWorker? _worker;

    /// <param name="pidfd">Pins the container process; not owned, must outlive this object.</param>
    public ContainerMounter(SafePidfdHandle pidfd, int pid)
    {
        _pidfd = pidfd;
        _pid = pid;
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
        if (!MountSyscalls.IsAlive(pidfd))
        {
            throw Exited(pid, target, null);
        }

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
    public AttachResult Attach(SafeMountHandle mount, StatxInfo mountInfo, string target, bool createTarget, bool allowStacking)
    {
        IReadOnlyList<string> components = TargetPath.TrySplit(target, out string? reason)
            ?? throw new HotplugException(HotplugFailure.InvalidTarget, target ?? string.Empty, $"Invalid target '{target}': {reason}.");
        string path = TargetPath.Join(components);

        using SafePathHandle root = OpenProcessRoot(_pidfd, _pid, path);
        using ContainerTarget resolved = ContainerTarget.Resolve(root, components, createTarget, mountInfo.IsDirectory);
        bool attached = false;

        // Everything after the target exists is undone on ANY exception, not only on our own failures: Trace is a
        // caller's callback (the cmdlets' WriteVerbose, which throws PipelineStoppedException on Ctrl+C), and statx or
        // the worker can fail too. Otherwise a stop at the wrong moment left a created directory, or an attached mount
        // that nobody reported.
        try
        {
            Trace?.Invoke($"openat2(/proc/{_pid}/root, \"{path}\", O_PATH, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) = fd {resolved.Handle.DescriptorNumber} ({resolved.Info.KindName}{(resolved.CreatedPaths.Count > 0 ? ", created " + string.Join(", ", resolved.CreatedPaths) : string.Empty)})");
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
            int undone = attached ? Undo(mount, mountInfo, resolved) : 0;
            resolved.RemoveCreated();

            // Said through the callback only for our own refusals: after anything else (a stop) it may throw again.
            if (attached && failure is HotplugException)
            {
                Trace?.Invoke($"undo: umount2(MNT_DETACH) = {(undone == 0 ? "0" : ErrnoText.Name(undone))}");
            }

            throw;
        }
    }

    /// <summary>Ends the namespace thread. Call it from the thread that calls <see cref="Attach"/>, once no Attach runs.</summary>
    public void Dispose()
    {
        _worker?.Dispose();
        _worker = null;
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

    private int Undo(SafeMountHandle mount, StatxInfo mountInfo, ContainerTarget resolved) =>
        mountInfo.IsDirectory
            ? _worker!.TryDetachDirectoryMount(mount)
            : _worker!.TryDetachByName(resolved.Parent, resolved.LeafName);

    private static HotplugException Exited(int pid, string target, SyscallException? cause) =>
        new(HotplugFailure.ContainerExited, target, $"The container process {pid} has exited; nothing was mounted.", cause);
}
