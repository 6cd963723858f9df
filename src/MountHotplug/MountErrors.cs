using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Builds every ErrorRecord the module writes, so that each failure carries a stable id, a fitting category, the
/// object it concerns, the system call and errno, and what to do about it.
/// </summary>
internal static class MountErrors
{
    internal static ErrorCategory CategoryOf(Errno errno) => errno switch
    {
        Errno.EPERM or Errno.EACCES => ErrorCategory.PermissionDenied,
        Errno.ENOENT or Errno.ESRCH => ErrorCategory.ObjectNotFound,
        Errno.EBUSY => ErrorCategory.ResourceBusy,
        Errno.EEXIST => ErrorCategory.ResourceExists,
        Errno.ENOSYS or Errno.EOPNOTSUPP => ErrorCategory.NotImplemented,
        Errno.ELOOP => ErrorCategory.SecurityError,
        Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM or Errno.ENOSPC => ErrorCategory.LimitsExceeded,
        Errno.EROFS => ErrorCategory.WriteError,
        _ => ErrorCategory.InvalidArgument,
    };

    /// <summary>The category of the system call behind a failure, or <paramref name="fallback"/> when there is none.</summary>
    internal static ErrorCategory CategoryOf(SyscallException? syscall, ErrorCategory fallback) =>
        syscall is null ? fallback : CategoryOf(syscall.Errno);

    /// <summary>The hint for the system call behind a failure, if there is one.</summary>
    internal static string? HintFor(SyscallException? syscall) => syscall is null ? null : HintFor(syscall.Syscall, syscall.Errno);

    /// <summary>What an admin can do about a given call failing with a given errno.</summary>
    internal static string? HintFor(string syscall, Errno errno) => (syscall, errno) switch
    {
        (_, Errno.EPERM) => "Run as root (sudo pwsh), or with CAP_SYS_ADMIN over the mount namespaces involved.",
        (_, Errno.EACCES) => "Run as root, and check that no security module (AppArmor, SELinux) denies mounts.",
        (_, Errno.ENOSYS) => "This kernel lacks the call; Get-MountApiSupport lists what it has.",
        ("open_tree", Errno.ENOENT) => "Check the source path on the host.",
        ("open_tree", Errno.EINVAL) => "The source must be a path in this host's mount namespace (not /proc/PID/root/…).",
        ("mount_setattr", Errno.EBUSY) => "Files are open for writing on the source mount; a read-only clone cannot be made while they are.",
        ("openat2", Errno.ELOOP) => "The path goes through a /proc magic link, which is refused inside a container's root.",
        ("openat2", Errno.ENOENT) => "Check the path inside the container; Move-MountIntoNamespace -CreateTarget creates a missing target.",
        ("openat2", Errno.ENOTDIR) => "A component of the path inside the container is a file, not a directory.",
        ("move_mount", Errno.EINVAL) => "Check that source and target are the same kind (file or directory) and that the target is in the container's mount namespace.",
        ("setns", Errno.EINVAL) => "setns with a pidfd needs Linux 5.8 or later.",
        ("pidfd_open", Errno.ESRCH) => "No such process: check the PID (ps, lxc-info -pH, runc state).",
        (_, Errno.EMFILE) => "The process ran out of file descriptors: dispose staged mounts you no longer need.",
        _ => null,
    };

    /// <summary>An error for a failed system call.</summary>
    internal static ErrorRecord FromSyscall(SyscallException ex, ErrorId errorId, object? target, string whatFailed, string? hint = null)
    {
        hint ??= HintFor(ex.Syscall, ex.Errno);
        return Build(ex, errorId, CategoryOf(ex.Errno), target, $"{whatFailed}: {ex.Message}", hint);
    }

    /// <summary>Whether a failure is about the target path inside the container (its error names that path, not the source).</summary>
    internal static bool IsTargetProblem(HotplugFailure failure) => failure is HotplugFailure.InvalidTarget or HotplugFailure.TargetNotFound
        or HotplugFailure.CreateTargetFailed or HotplugFailure.TargetTypeMismatch or HotplugFailure.TargetIsMountPoint
        or HotplugFailure.TargetIsSymlink or HotplugFailure.ReplaceTargetNotMounted or HotplugFailure.MoveNotVerified;

    /// <summary>An error for a failed hot-plug step.</summary>
    internal static ErrorRecord FromHotplug(HotplugException ex, object? target)
    {
        (ErrorId id, ErrorCategory category, string? hint) = ex.Failure switch
        {
            HotplugFailure.InvalidTarget => (ErrorId.InvalidTarget, ErrorCategory.InvalidArgument,
                "Give an absolute path inside the container, without '..', that does not go through /proc magic links."),
            HotplugFailure.TargetNotFound => (ErrorId.TargetNotFound, ErrorCategory.ObjectNotFound,
                "Check the path inside the container; Move-MountIntoNamespace -CreateTarget creates a missing target."),
            HotplugFailure.CreateTargetFailed => (ErrorId.CreateTargetFailed, CategoryOf(ex.Syscall, ErrorCategory.WriteError),
                "Check that the container's filesystem is writable at that place and not full."),
            HotplugFailure.TargetTypeMismatch => (ErrorId.TargetTypeMismatch, ErrorCategory.InvalidArgument,
                "Mount a directory onto a directory and a file onto a file; choose another -Target."),
            HotplugFailure.TargetIsMountPoint => (ErrorId.TargetIsMountPoint, ErrorCategory.ResourceExists,
                "Choose another -Target, or add -Force to stack the new mount on top of the existing one."),
            HotplugFailure.TargetIsSymlink => (ErrorId.TargetIsSymlink, ErrorCategory.InvalidArgument,
                "Name the directory or file the link points to (readlink it inside the container); links are followed in the other components."),
            HotplugFailure.ContainerExited => (ErrorId.ContainerExited, ErrorCategory.ObjectNotFound,
                "Start the container again and get a new object with Get-ContainerNamespace."),
            HotplugFailure.EnterNamespaceFailed => (ErrorId.EnterNamespaceFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                HintFor(ex.Syscall)),
            HotplugFailure.MoveMountFailed => (ErrorId.MoveMountFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                HintFor(ex.Syscall)),
            HotplugFailure.MoveNotVerified => (ErrorId.MoveNotVerified, ErrorCategory.InvalidResult,
                "Something inside the container changed the target while it was mounted; the move was undone. Try again."),
            HotplugFailure.ReplaceTargetNotMounted => (ErrorId.ReplaceTargetNotMounted, ErrorCategory.InvalidOperation,
                "Drop -Replace to attach at a plain directory (with -CreateTarget if it is missing)."),
            HotplugFailure.ReplaceFailed => (ErrorId.ReplaceFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                "The container still has the mount it had. Check that the path is not the container's root and that the mount on it is not shared with mounts it would propagate onto."),
            HotplugFailure.NotMounted => (ErrorId.NotMounted, ErrorCategory.ObjectNotFound,
                "Name a mount point (the namespace's /proc/PID/mountinfo lists them), or check -Namespace."),
            HotplugFailure.MountChanged => (ErrorId.MountChanged, ErrorCategory.InvalidOperation,
                "Look at what is mounted there now; to unmount whatever is on top, use -Path and -Namespace."),
            HotplugFailure.MountBusy => (ErrorId.MountBusy, ErrorCategory.ResourceBusy,
                "Stop those processes or have them close the files (or leave the directories), then try again; or use -Lazy to detach it now (they keep using it until they let go)."),
            HotplugFailure.UnmountFailed => (ErrorId.UnmountFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                HintFor(ex.Syscall)),
            HotplugFailure.UnmountNotVerified => (ErrorId.UnmountNotVerified, ErrorCategory.InvalidResult,
                "Something inside the namespace mounted the same mount there again; look at its mount table."),
            _ => throw new System.Diagnostics.UnreachableException($"HotplugFailure.{ex.Failure} has no error id"),
        };

        string message = ex.Syscall is { } cause ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, target, message, hint);
    }

    /// <summary>An error for a new filesystem that fsopen/fsconfig/fsmount refused; the message has the kernel's own words.</summary>
    internal static ErrorRecord FromFileSystem(FileSystemException ex, object? target)
    {
        Errno errno = ex.Syscall.Errno;
        (ErrorId id, string? hint) = ex.Step switch
        {
            FileSystemStep.Open when errno == Errno.ENODEV => (ErrorId.FileSystemNotFound,
                "See /proc/filesystems for the types this kernel has (Tab completes -FileSystem from it); a module may have to be loaded first (modprobe)."),
            FileSystemStep.Open => (ErrorId.FsOpenFailed, HintFor("fsopen", errno)),
            FileSystemStep.Configure => (ErrorId.FileSystemOptionRejected,
                ex.Option is { Value: { } value } && value.Contains(',')
                    ? "Give one option per element (-Option size=64m, mode=0755), not a comma-separated list."
                    : $"Check the option against the {ex.FileSystem} documentation (man 5 {ex.FileSystem}, or Documentation/filesystems/)."),
            FileSystemStep.Create => (ErrorId.FileSystemCreateFailed, errno switch
            {
                Errno.ENOTBLK => "-Source must be a block device (losetup --find --show IMAGE makes one of an image file).",
                Errno.ENOENT => "-Source does not exist on the host.",
                Errno.EBUSY => "The device is in use (mounted exclusively elsewhere, or held by another program).",
                Errno.EACCES or Errno.EROFS => "The device is read-only: add -Option ro.",
                _ => $"Check that -Source holds a filesystem of type {ex.FileSystem} (blkid shows what it holds).",
            }),
            _ => (ErrorId.FsMountFailed, HintFor("fsmount", errno)),
        };
        if (ex.KernelMessages.Count == 0 && ex.Step is FileSystemStep.Create or FileSystemStep.Mount)
        {
            // ext4 and others report a missing or damaged filesystem with printk only, not to the fs context.
            hint = (hint is null ? string.Empty : hint + " ") + "Some filesystems write their reason only to the kernel log (dmesg | tail).";
        }

        return Build(ex, id, CategoryOf(errno), target, ex.Message, hint);
    }

    /// <summary>An error for a container name that could not be resolved and pinned.</summary>
    internal static ErrorRecord FromLookup(Runtimes.ContainerLookupException ex)
    {
        (ErrorId id, ErrorCategory category, string hint) = ex.Failure switch
        {
            Runtimes.LookupFailure.Ambiguous => (ErrorId.AmbiguousContainerName, ErrorCategory.InvalidArgument,
                "Add -Runtime (and for LXC -LxcPath) to say which one, or use -ProcessId."),
            Runtimes.LookupFailure.NotRunning => (ErrorId.ContainerNotRunning, ErrorCategory.ResourceUnavailable,
                "Start the container first (lxc-start, pct start, podman start, docker start …)."),
            Runtimes.LookupFailure.RuntimeUnavailable => (ErrorId.RuntimeUnavailable, ErrorCategory.ResourceUnavailable,
                "Make the runtime answer (install its tools; start or reach its daemon: DOCKER_HOST for docker, CONTAINER_HOST for podman), or add -Runtime so that only the container's own runtime is asked."),
            Runtimes.LookupFailure.Changed => (ErrorId.ContainerChanged, ErrorCategory.ResourceBusy,
                "The container stopped or restarted meanwhile; run the command again."),
            _ => (ErrorId.ContainerNotFound, ErrorCategory.ObjectNotFound,
                "Check the name (Get-ContainerNamespace with no arguments lists the running containers), or add -Runtime and -LxcPath."),
        };
        return Build(ex, id, category, ex.Name, ex.Message, hint);
    }

    /// <summary>An error for an idmapped mount that could not be made.</summary>
    internal static ErrorRecord FromIdMap(IdMapException ex, object? target)
    {
        (ErrorId id, ErrorCategory category, string hint) = ex.Failure switch
        {
            IdMapFailure.NotUserNamespace => (ErrorId.IdMapNotUserNamespace, CategoryOf(ex.Syscall, ErrorCategory.InvalidArgument),
                "Pass a ContainerNamespace, or the path of a user namespace file such as /proc/PID/ns/user."),
            IdMapFailure.InitialNamespace => (ErrorId.IdMapInitialNamespace, ErrorCategory.InvalidArgument,
                "The container shares the host's user namespace (a privileged container): its ids are the host's, so drop -IdMap."),
            IdMapFailure.ContainerExited => (ErrorId.ContainerExited, ErrorCategory.ObjectNotFound,
                "Start the container again and get a new object with Get-ContainerNamespace."),
            IdMapFailure.NotSupported => (ErrorId.IdMapNotSupported, ErrorCategory.NotImplemented,
                "Stage a path on (or create with -FileSystem) a filesystem type that supports idmapped mounts (ext4, xfs, btrfs, tmpfs 6.3+, overlayfs …), or drop -IdMap and give the files to the container's mapped ids instead."),
            IdMapFailure.Unmapped => (ErrorId.IdMapFailed, ErrorCategory.InvalidOperation,
                "Idmap once the runtime has written the namespace's uid_map and gid_map (a hook that runs before that cannot), or pass a namespace that maps ids."),
            _ => (ErrorId.IdMapFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                HintFor(ex.Syscall) ?? "Check the kernel log."),
        };
        string message = ex.Syscall is { } cause ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, target, message, hint);
    }

    /// <summary>An error for a -Seal that could not be made; the staged mount is unchanged.</summary>
    internal static ErrorRecord FromSeal(SealException ex, object? target)
    {
        (ErrorId id, ErrorCategory category, string? hint) = ex.Failure switch
        {
            SealFailure.HelperMissing => (ErrorId.SealHelperMissing, ErrorCategory.ResourceUnavailable,
                "Rebuild the module (dotnet build; it compiles mhp-seal with gcc), and keep its directory writable by root only."),
            SealFailure.HelperFailed => (ErrorId.SealHelperFailed, ErrorCategory.InvalidResult,
                "Run the helper's self-test: Get-MountApiSupport -Feature Seal."),
            SealFailure.TransferFailed => (ErrorId.SealTransferFailed, CategoryOf(ex.Syscall, ErrorCategory.PermissionDenied),
                "pidfd_getfd needs ptrace access between this process and its helper: check kernel.yama.ptrace_scope (3 forbids it) and security modules."),
            SealFailure.CloneFailed => (ErrorId.SealCloneFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                "Stage the mount again (New-StagedMount) in this process and seal it from the same mount namespace."),
            SealFailure.PrivateNamespaceFailed => (ErrorId.SealPrivateNamespaceFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                HintFor(ex.Syscall)),
            SealFailure.EnterUserNamespaceFailed => (ErrorId.SealEnterUserNamespaceFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                "setns into a user namespace needs CAP_SYS_ADMIN over it (EPERM otherwise: run as the host's root) and a process with one thread and its own fs_struct (EINVAL; the helper is one)."),
            SealFailure.ContainerExited => (ErrorId.ContainerExited, ErrorCategory.ObjectNotFound,
                "Start the container again and get a new object with Get-ContainerNamespace."),
            SealFailure.CopyFailed => (ErrorId.SealCopyFailed, CategoryOf(ex.Syscall, ErrorCategory.NotSpecified),
                ex.Syscall?.Errno == Errno.ENOSPC
                    ? "The container's user namespace has reached its limit of mount namespaces (user.max_mnt_namespaces)."
                    : HintFor(ex.Syscall)),
            SealFailure.NotLocked => (ErrorId.SealNotLocked, ErrorCategory.InvalidResult,
                "This kernel does not lock copied mounts; nothing was attached. Drop -Seal (and see docs/security.md for what to do instead)."),
            _ => throw new System.Diagnostics.UnreachableException($"SealFailure.{ex.Failure} has no error id"),
        };
        string message = ex.Syscall is { } cause ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, target, message, hint);
    }

    /// <summary>An error for the stage of kept mounts.</summary>
    internal static ErrorRecord FromStage(Staging.StageException ex, object? target)
    {
        (ErrorId id, ErrorCategory category, string hint) = ex.Failure switch
        {
            Staging.StageFailure.InvalidName => (ErrorId.InvalidStageName, ErrorCategory.InvalidArgument,
                "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."),
            Staging.StageFailure.Exists => (ErrorId.StageNameExists, ErrorCategory.ResourceExists,
                "Choose another -StageName, or remove the old one with Remove-StagedMount."),
            Staging.StageFailure.NotFound => (ErrorId.StagedMountNotFound, ErrorCategory.ObjectNotFound,
                "Get-StagedMount lists the kept mounts of this mount namespace."),
            _ => (ErrorId.StageFailed, CategoryOf(ex.Syscall, ErrorCategory.WriteError),
                HintFor(ex.Syscall) ?? "Check that /run is writable."),
        };
        string message = ex.Syscall is { } cause && !ex.Message.Contains(cause.Message, StringComparison.Ordinal) ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, target, message, hint);
    }

    /// <summary>An error for one entry of Sync-ContainerMount, whatever failed for it; the object is the entry's target or source.</summary>
    internal static ErrorRecord FromSyncEntry(Exception ex, object subject, string source) => ex switch
    {
        Sync.SyncException sync => FromSync(sync),
        HotplugException hotplug => FromHotplug(hotplug, subject),
        IdMapException idmap => FromIdMap(idmap, subject),
        SyscallException syscall => FromSyscall(syscall, syscall.Syscall switch
        {
            "open_tree" when syscall.Errno is Errno.ENOENT or Errno.ENOTDIR => ErrorId.SourceNotFound,
            "open_tree" => ErrorId.OpenTreeFailed,
            "mount_setattr" => ErrorId.MountSetAttrFailed,
            _ => ErrorId.SyncFailed,
        }, subject, syscall.Syscall == "open_tree" ? $"Could not clone '{source}'" : $"Could not sync '{subject}'"),
        _ => Build(ex, ErrorId.SyncFailed, ErrorCategory.NotSpecified, subject, ex.Message, null),
    };

    /// <summary>An error for an entry Sync-ContainerMount refused or found in conflict.</summary>
    internal static ErrorRecord FromSync(Sync.SyncException ex)
    {
        (ErrorId id, ErrorCategory category, string hint) = ex.Failure switch
        {
            Sync.SyncFailure.TargetMissing => (ErrorId.TargetMissing, ErrorCategory.InvalidArgument,
                "Give each entry a Target: the absolute path inside the container."),
            Sync.SyncFailure.InvalidTarget => (ErrorId.InvalidTarget, ErrorCategory.InvalidArgument,
                "Give an absolute path inside the container, without '..' (for example /mnt/data)."),
            Sync.SyncFailure.SourceMissing => (ErrorId.SourceMissing, ErrorCategory.InvalidArgument,
                "Give each entry a Path (or Source): the host directory or file to mount."),
            Sync.SyncFailure.SourceNotFound => (ErrorId.SourceNotFound, ErrorCategory.ObjectNotFound,
                "Check the host path; the other entries were synced."),
            Sync.SyncFailure.DuplicateTarget => (ErrorId.DuplicateTarget, ErrorCategory.InvalidArgument,
                "Keep one entry per target."),
            Sync.SyncFailure.InvalidEntry => (ErrorId.InvalidEntry, ErrorCategory.InvalidArgument,
                "An entry has Path (or Source), Target, and optionally ReadOnly, NoSuid, NoDev, NoExec, Recurse (true/false), Propagation (Private, Shared, Slave, Unbindable) and IdMap (true, or a user namespace file)."),
            Sync.SyncFailure.Conflict => (ErrorId.SyncConflict, ErrorCategory.ResourceExists,
                "Unplug that mount (Remove-Mount), choose another target, or add -Force to replace it (Sync then counts it as its own)."),
            Sync.SyncFailure.MountChanged => (ErrorId.MountChanged, ErrorCategory.InvalidOperation,
                "Something changed the target while Sync ran; run Sync again."),
            _ => (ErrorId.SyncFailed, ErrorCategory.NotSpecified, string.Empty),
        };
        string message = ex.InnerException is SyscallException cause && !ex.Message.Contains(cause.Message, StringComparison.Ordinal) ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, ex.Subject, message, hint);
    }

    /// <summary>An error for a state file of Sync-ContainerMount that cannot be used; the run stops before it changes anything.</summary>
    internal static ErrorRecord FromSyncState(Sync.SyncStateException ex) =>
        Build(ex, ErrorId.SyncStateInvalid, ErrorCategory.InvalidData, ex.Path, ex.Message,
            "Look at the file, then remove it: Sync then counts no mount in that container as its own, and -Prune unplugs none of them until Sync places them again.");

    /// <summary>An error that is not about a system call (bad input, wrong state).</summary>
    internal static ErrorRecord Plain(ErrorId errorId, ErrorCategory category, object? target, string message, string? hint = null) =>
        Build(new InvalidOperationException(message), errorId, category, target, message, hint);

    /// <summary>An error carrying <paramref name="ex"/> itself (for failures that have an exception type of their own).</summary>
    internal static ErrorRecord Build(Exception ex, ErrorId errorId, ErrorCategory category, object? target, string message, string? hint)
    {
        var record = new ErrorRecord(ex, errorId.ToString(), category, target)
        {
            // The hint goes only into RecommendedAction: pwsh's ConciseView prints it as "Recommendation:" below the
            // message, so a hint in the message too was shown twice.
            ErrorDetails = new ErrorDetails(message) { RecommendedAction = hint ?? string.Empty },
        };
        return record;
    }

    /// <summary>The errors a lookup can raise, as ErrorRecords with the given id for "not found".</summary>
    internal static ErrorRecord? FromLocate(Exception ex, ErrorId notFoundId, string path, ContainerNamespace? ns, string role) => ex switch
    {
        HotplugException { Failure: HotplugFailure.ContainerExited } h => Plain(ErrorId.ContainerExited, ErrorCategory.ObjectNotFound, path, h.Message),
        HotplugException { Failure: HotplugFailure.TargetIsSymlink } h => Plain(ErrorId.TargetIsSymlink, ErrorCategory.InvalidArgument, path, h.Message,
            "Name the mount point the link leads to (readlink it inside the container); links are followed in the other components."),
        HotplugException h => Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, path, h.Message),
        SyscallException s => FromSyscall(s, notFoundId, path, $"{role} '{path}' {MountLocator.Where(ns)} cannot be opened"),
        ObjectDisposedException => Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, ns,
            $"The ContainerNamespace of PID {ns?.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."),
        _ => null,
    };
}
