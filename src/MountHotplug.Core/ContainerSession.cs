namespace MountHotplug;

/// <summary>What a successful hot-plug did.</summary>
/// <param name="Target">The normalized path inside the container.</param>
/// <param name="MountId">The id of the attached mount.</param>
/// <param name="CreatedPaths">Directories (or the empty file) created to reach the target, outermost first.</param>
/// <param name="ReplacedMountId">With -Replace: the mount that was on top before and has been detached.</param>
public sealed record AttachResult(string Target, ulong MountId, IReadOnlyList<string> CreatedPaths, ulong? ReplacedMountId = null);

/// <summary>What <see cref="ContainerSession.Attach"/> is asked to do besides moving the mount.</summary>
public sealed record AttachOptions
{
    /// <summary>Create missing directories (or, for a file mount, the empty file) on the way, one name at a time.</summary>
    public bool CreateTarget { get; init; }

    /// <summary>Stack the mount on a target that is already a mount point (hiding what is there).</summary>
    public bool AllowStacking { get; init; }

    /// <summary>
    /// Swap the mount that is on top at the target atomically: MOVE_MOUNT_BENEATH puts the new mount under it, then the
    /// old top is detached, so the path never shows the directory beneath. Needs a mount point, and Linux 6.5.
    /// </summary>
    public bool Replace { get; init; }

    /// <summary>Lock the read-only mount's flags against the container's root (kernel-notes N20).</summary>
    public bool Seal { get; init; }

    /// <summary>Host uid and gid to give created entries (the container's root in its user namespace).</summary>
    public (uint Uid, uint Gid)? CreateOwner { get; init; }

    /// <summary>
    /// With <see cref="Replace"/>: replace only if the mount on top at the target has this id (the kind statx gives), so that
    /// a mount put there since the caller looked is never the one detached.
    /// </summary>
    public ulong? ExpectedTop { get; init; }
}

/// <summary>
/// Everything done inside one running container's mount namespace: attach, replace, unmount, change attributes, open a
/// mount point, list, restore. Every path is resolved inside the container's own root (<see cref="InRootPath"/>), and the
/// calls the kernel accepts only from inside the namespace run on one dedicated thread that entered it
/// (<see cref="NamespaceWorker"/>), started on first need and kept while the session is used, so a loop of one hot-plug
/// per pipeline enters the namespace once. Owned by its <see cref="ContainerNamespace"/> (<see cref="ContainerNamespace.Session"/>);
/// calls are serialized. Each call takes an optional trace callback, called with a description of each system call made.
/// </summary>
public sealed partial class ContainerSession : IDisposable
{
    /// <summary>How long an unused namespace thread is kept before it is ended (a new one enters on the next call).</summary>
    internal static TimeSpan WorkerIdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How often a kept namespace thread checks that its container still runs (it ends with the container).</summary>
    internal static TimeSpan WorkerExitCheck = TimeSpan.FromSeconds(1);

    // The sessions that keep a namespace thread or the container's root now, so that all can be released at once
    // (EndIdleWorkers).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ContainerSession, byte> Keeping = new();

    private readonly ContainerNamespace _ns;
    private readonly SafePidfdHandle _pidfd;
    private readonly int _pid;
    private readonly object _gate = new();
    private readonly Timer _idleTimer;
    private NamespaceWorker? _worker;
    private readonly string _procRoot;
    private SafePathHandle? _root;
    private StatxInfo _rootInfo;
    private Action<string>? _trace;
    private bool _disposed;
    private long _lastUse;

    internal ContainerSession(ContainerNamespace ns)
    {
        _ns = ns;
        _pidfd = ns.Pidfd;
        _pid = ns.ProcessId;
        _procRoot = $"/proc/{_pid}/root";
        _idleTimer = new Timer(static state => ((ContainerSession)state!).ReleaseIfIdle(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The pinned container this session works in.</summary>
    public ContainerNamespace Namespace => _ns;

    /// <summary>The kernel thread id of the namespace thread, if one runs now (0 otherwise, or when the namespace is the caller's).</summary>
    public int WorkerThreadId
    {
        get
        {
            lock (_gate)
            {
                return _worker?.NativeThreadId ?? 0;
            }
        }
    }

    private Action<string>? Trace => _trace;

    /// <summary>Runs <paramref name="operation"/> under the session's lock with <paramref name="trace"/> as the trace callback.</summary>
    private T Run<T>(Action<string>? trace, Func<T> operation)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _trace = trace;
            try
            {
                return operation();
            }
            finally
            {
                _trace = null;
                _lastUse = Environment.TickCount64;

            }
        }
    }

    // A kept thread holds the container's mount namespace alive (and the kept root a descriptor): both are released when
    // the container exits (checked every WorkerExitCheck) or after WorkerIdleTimeout without a call, whichever is first.
    private void ReleaseIfIdle()
    {
        if (!Monitor.TryEnter(_gate))
        {
            _idleTimer.Change(WorkerExitCheck, Timeout.InfiniteTimeSpan); // a call runs: look again later
            return;
        }

        try
        {
            bool idle = Environment.TickCount64 - _lastUse >= (long)WorkerIdleTimeout.TotalMilliseconds;
            if ((_worker is null && _root is null) || _disposed)
            {
                return;
            }

            if (idle || !_ns.IsAlive)
            {
                Release();
                return;
            }

            _idleTimer.Change(WorkerExitCheck, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The namespace object was disposed meanwhile; its Dispose ends the thread.
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    // Under _gate: something is kept (the thread, the root) until idle, exit or Dispose.
    private void Keep()
    {
        Keeping[this] = 0;
        _idleTimer.Change(WorkerExitCheck, Timeout.InfiniteTimeSpan);
    }

    // Under _gate.
    private void Release()
    {
        _worker?.Dispose();
        _worker = null;
        _root?.Dispose();
        _root = null;
        Keeping.TryRemove(this, out _);
    }

    /// <summary>
    /// Ends every kept namespace thread and closes every kept root, each after the call in progress on its session, if any
    /// (a later call enters and opens again). For tests that check no
    /// thread is left in another namespace once the module is idle, and for hosts that want to release containers' namespaces
    /// at once (a stopped container's namespace lives while a thread is in it).
    /// </summary>
    public static void EndIdleWorkers()
    {
        foreach (ContainerSession session in Keeping.Keys)
        {
            lock (session._gate)
            {
                session.Release();
            }
        }
    }

    /// <summary>
    /// Opens the process's own root directory as the host sees it (/proc/PID/root) and proves through the
    /// pidfd that /proc/PID was still that process when it was opened. For a chroot-based container this is not
    /// the root of its mount namespace, which is why targets are resolved from here.
    /// </summary>
    internal static SafePathHandle OpenProcessRoot(ContainerNamespace ns, string target)
    {
        ObjectDisposedException.ThrowIf(ns.IsDisposed, ns);
        SafePathHandle root;
        try
        {
            root = MountSyscalls.Open($"/proc/{ns.ProcessId}/root", OpenFlags.Path | OpenFlags.Directory);
        }
        catch (SyscallException ex) when (ex.Errno is Errno.ENOENT or Errno.ESRCH)
        {
            throw Exited(ns.ProcessId, target, ex);
        }

        try
        {
            ns.Verify(target);
        }
        catch
        {
            root.Dispose();
            throw;
        }

        return root;
    }

    /// <summary>
    /// Moves the staged <paramref name="mount"/> onto <paramref name="target"/> inside the container and verifies it is
    /// there, then records where it went in <paramref name="mount"/>. On any failure nothing is left: no mount, no directory
    /// or file it created, and the staged mount stays staged.
    /// </summary>
    /// <exception cref="HotplugException">A step failed (the failure names which); nothing was changed.</exception>
    /// <exception cref="SealException">With <see cref="AttachOptions.Seal"/>: the mount could not be sealed; nothing was changed.</exception>
    public AttachResult Attach(StagedMount mount, string target, AttachOptions options, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(mount);
        ArgumentNullException.ThrowIfNull(options);
        return Run(trace, () =>
        {
            SafeMountHandle? sealedClone = null;
            try
            {
                SafeMountHandle handle = mount.Handle;
                StatxInfo info = mount.Info;
                if (options.Seal)
                {
                    sealedClone = Sealer.Seal(mount.Handle, _pidfd, $"'{mount.Source}'");
                    Trace?.Invoke($"Sealed '{mount.Source}' through user namespace {_ns.UserNamespaceId} (mhp-seal): fd {sealedClone.DescriptorNumber}");
                    handle = sealedClone;
                    info = MountSyscalls.Statx(sealedClone, mount.Source);
                }

                AttachResult result = AttachCore(handle, info, target, options.CreateTarget, options.AllowStacking, options.Replace, options.CreateOwner,
                    options.ExpectedTop);
                mount.MarkAttached(result.Target, _ns, result.CreatedPaths, result.ReplacedMountId, options.Seal);
                return result;
            }
            finally
            {
                // Attached, its descriptor is no longer needed; not attached, closing it dissolves the sealed clone.
                sealedClone?.Dispose();
            }
        });
    }

    /// <summary>The same for a detached mount given by its descriptor and statx (a clone the caller made itself); no seal.</summary>
    internal AttachResult Attach(SafeMountHandle mount, StatxInfo mountInfo, string target, AttachOptions options, Action<string>? trace = null) =>
        Run(trace, () => AttachCore(mount, mountInfo, target, options.CreateTarget, options.AllowStacking, options.Replace, options.CreateOwner,
            options.ExpectedTop));

    private AttachResult AttachCore(SafeMountHandle mount, StatxInfo mountInfo, string target, bool createTarget, bool allowStacking, bool replace,
        (uint Uid, uint Gid)? createOwner, ulong? expectedTop)
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
                throw InRootPath.SymlinkRefused(path);
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

            Verify(root, components, path, mountInfo, "the move was undone");
            return new AttachResult(path, mountInfo.MountId, resolved.CreatedPaths);
        }
        catch (Exception failure)
        {
            DetachOutcome? undone = attached ? resolved.TryDetachOwn(_worker!, mount, root) : null;
            resolved.RemoveCreated();

            // Said through the callback only for our own refusals: after anything else (a stop) it may throw again.
            if (attached && failure is HotplugException refused)
            {
                Trace?.Invoke($"undo: umount2(MNT_DETACH) = {undone}");

                // The same refusal (its id stays), but it must not read as if nothing had changed.
                if (undone is { Detached: false })
                {
                    throw new HotplugException(refused.Failure, refused.Target,
                        $"{refused.Message} Taking the mount away again failed (umount2 = {undone}): it is still attached inside the container.",
                        refused.Syscall);
                }
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

        // resolved.Handle is the old top's root; a mount the container stacked on it since goes with it.
        DetachOutcome old = resolved.TryDetachOwn(worker, resolved.Handle, root);
        Trace?.Invoke($"umount2({(mountInfo.IsDirectory ? "\".\" (fchdir to the old top)" : $"\"{resolved.LeafName}\"")}, MNT_DETACH|UMOUNT_NOFOLLOW) = {old} (old top mount {oldTop})");
        if (!old.Detached)
        {
            // The new mount is not taken away again: any unmount at its root names what is on top of it, which is the
            // old top that could not be detached (kernel-notes N18). Beneath it, it is hidden.
            throw new HotplugException(HotplugFailure.ReplaceFailed, path,
                $"The new mount is beneath mount {oldTop} at '{path}', but the old top mount could not be detached: it is still on top, and the new mount stays beneath it, hidden.",
                old.Errno == 0 ? null : SyscallException.Create("umount2", old.Errno, path));
        }

        // The old top is gone already; taking the new mount away too would leave the path empty. Say what is there.
        Verify(root, components, path, mountInfo, "the old mount was already detached, so the new one was left in place");

        return new AttachResult(path, mountInfo.MountId, Array.Empty<string>(), oldTop);
    }

    /// <summary>Ends the namespace thread and closes the root; waits for a call in progress to finish first.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _idleTimer.Dispose();
            Release();
        }
    }

    /// <summary>
    /// The process's root as it is NOW: kept open between calls, and opened again whenever /proc/PID/root no longer
    /// leads to the same directory (the container pivoted or chrooted since). Checked on each call with one statx and
    /// the pidfd, instead of an open, the pidfd and a close: a hot-plug makes about fifteen system calls, at 1.5-4 µs
    /// each on the project's VM (issue 7), and the check keeps every target resolved in the root the process has now.
    /// </summary>
    internal SafePathHandle CurrentRoot(string target)
    {
        if (_root is not null)
        {
            int errno = MountSyscalls.TryStatxPath(_procRoot, _rootInfo.MountIdIsUnique, out StatxInfo now);
            bool same = errno == 0 && now.Inode == _rootInfo.Inode && now.MountId == _rootInfo.MountId
                && now.DeviceMajor == _rootInfo.DeviceMajor && now.DeviceMinor == _rootInfo.DeviceMinor;

            // Only the check AFTER the statx proves /proc/PID was still the pinned process when it was looked at.
            if (same && _ns.IsAlive)
            {
                return _root;
            }

            _root.Dispose();
            _root = null;
        }

        SafePathHandle root = OpenProcessRoot(_ns, target);
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
        Keep();
        return root;
    }

    internal NamespaceWorker EnterNamespace(string path)
    {
        if (_worker is not null)
        {
            return _worker;
        }

        if (_ns.IsCallerNamespace)
        {
            // The caller's own namespace: nothing to enter, the calls run on the calling thread.
            return _worker = NamespaceWorker.ForCallerNamespace();
        }

        try
        {
            _worker = NamespaceWorker.Enter(_pidfd, $"mount namespace of PID {_pid}");
            Keep();
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
    /// <param name="outcome">What the caller does when the check fails, for the message ("the move was undone").</param>
    private void Verify(SafeHandle root, IReadOnlyList<string> components, string path, StatxInfo mountInfo, string outcome)
    {
        using SafePathHandle? again = InRootPath.TryOpen(root, path, InRootPath.LastComponent, out int errno);
        if (again is null)
        {
            throw new HotplugException(HotplugFailure.MoveNotVerified, path, $"The mount was attached but '{path}' could not be looked up again; {outcome}.",
                SyscallException.Create("openat2", errno, path));
        }

        StatxInfo seen = MountSyscalls.Statx(again, path, mountInfo.MountIdIsUnique);
        Trace?.Invoke($"statx(\"{path}\") mount id {seen.MountId}, expected {mountInfo.MountId}");
        if (seen.MountId != mountInfo.MountId)
        {
            throw new HotplugException(HotplugFailure.MoveNotVerified, path,
                $"After move_mount, '{path}' inside the container shows mount {seen.MountId}, not the moved mount {mountInfo.MountId}; {outcome}.");
        }
    }

    private static HotplugException Exited(int pid, string target, SyscallException? cause) =>
        new(HotplugFailure.ContainerExited, target, $"The container process {pid} has exited; nothing was changed in its namespace.", cause);
}

public sealed partial class ContainerSession
{
    /// <summary>mount_setattr of a mount point opened in this container, on the namespace thread.</summary>
    internal void SetAttributes(MountPoint mount, MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive,
        Action<string>? trace, string? why) =>
        Run(trace, () =>
        {
            NamespaceWorker worker = EnterNamespace(mount.Path);
            int errno = worker.TryMountSetAttr(mount.Handle, set, clear, propagation, recursive);
            Trace?.Invoke(mount.SetAttrTrace(set, clear, propagation, recursive, errno, worker.NativeThreadId, why));
            mount.ThrowIfFailed(errno);
            return 0;
        });

    /// <summary>Opens the mount point at <paramref name="path"/> inside the container (a link as the last component refused).</summary>
    public MountPoint OpenMountPoint(string path) => MountPoint.Open(path, _ns);

    /// <summary>The container's mount table, read without entering it where the kernel allows.</summary>
    public IReadOnlyList<MountEntry> ReadMountTable(Action<string>? trace = null) => MountLocator.ReadTable(_ns, trace);

    /// <summary>
    /// The names in the directory <paramref name="directory"/> inside the container that start with <paramref name="prefix"/>
    /// (for completion), with whether each is a directory; at most <paramref name="limit"/>, sorted.
    /// </summary>
    public IReadOnlyList<(string Name, bool IsDirectory)> ListDirectory(string directory, string prefix, int limit)
    {
        using SafePathHandle root = OpenProcessRoot(_ns, directory);
        using SafePathHandle dir = InRootPath.Open(root, directory, InRootMode.Directory);

        // /proc/self/fd/N reopens exactly the directory the descriptor holds; no path is looked up again.
        var results = new List<(string, bool)>();
        foreach (FileSystemInfo entry in new DirectoryInfo($"/proc/self/fd/{dir.DescriptorNumber}").EnumerateFileSystemInfos(prefix + "*"))
        {
            results.Add((entry.Name, (entry.Attributes & FileAttributes.Directory) != 0 && entry.LinkTarget is null));
            if (results.Count == limit)
            {
                break;
            }
        }

        results.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return results;
    }

    /// <summary>
    /// Restores <paramref name="topology"/> under <paramref name="destination"/> inside this container (see
    /// <see cref="TopologyRestore"/>); returns the ids of the mounts made, in the topology's order.
    /// </summary>
    public IReadOnlyList<ulong> Restore(MountTopology topology, string destination, IReadOnlyList<MountEntry> table, Action<string>? trace = null,
        Action<string>? warn = null) =>
        Run(trace, () =>
        {
            using SafePathHandle root = OpenProcessRoot(_ns, destination);
            return TopologyRestore.Restore(topology, EnterNamespace(destination), root, destination, table, Trace, warn);
        });
}
