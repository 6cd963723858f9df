using System.Management.Automation;
using MountHotplug.Native;

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

    /// <summary>What an admin can do about a given call failing with a given errno.</summary>
    internal static string? HintFor(string syscall, Errno errno) => (syscall, errno) switch
    {
        (_, Errno.EPERM) => "Run as root (sudo pwsh), or with CAP_SYS_ADMIN over the mount namespaces involved.",
        (_, Errno.EACCES) => "Run as root, and check that no security module (AppArmor, SELinux) denies mounts.",
        (_, Errno.ENOSYS) => "This kernel lacks the call; MountHotplug needs Linux 5.15 or later.",
        ("open_tree", Errno.ENOENT) => "Check the source path on the host.",
        ("open_tree", Errno.EINVAL) => "The source must be a path in this host's mount namespace (not /proc/PID/root/…).",
        ("mount_setattr", Errno.EBUSY) => "Files are open for writing on the source mount; a read-only clone cannot be made while they are.",
        ("openat2", Errno.ELOOP) => "The path goes through a /proc magic link, which is refused inside a container's root.",
        ("openat2", Errno.ENOENT) => "Create it first, or add -CreateTarget.",
        ("openat2", Errno.ENOTDIR) => "A component of the path inside the container is a file, not a directory.",
        ("move_mount", Errno.EINVAL) => "Check that source and target are the same kind (file or directory) and that the target is in the container's mount namespace.",
        ("setns", Errno.EINVAL) => "setns with a pidfd needs Linux 5.8 or later.",
        ("pidfd_open", Errno.ESRCH) => "No such process: check the PID (ps, lxc-info -pH, runc state).",
        (_, Errno.EMFILE) => "The process ran out of file descriptors: dispose staged mounts you no longer need.",
        _ => null,
    };

    /// <summary>An error for a failed system call.</summary>
    internal static ErrorRecord FromSyscall(SyscallException ex, string errorId, object? target, string whatFailed, string? hint = null)
    {
        hint ??= HintFor(ex.Syscall, ex.Errno);
        return Build(ex, errorId, CategoryOf(ex.Errno), target, $"{whatFailed}: {ex.Message}", hint);
    }

    /// <summary>An error for a failed hot-plug step.</summary>
    internal static ErrorRecord FromHotplug(HotplugException ex, object? target)
    {
        (string id, ErrorCategory category, string? hint) = ex.Failure switch
        {
            HotplugFailure.InvalidTarget => ("InvalidTarget", ErrorCategory.InvalidArgument,
                "Give an absolute path inside the container, without '..', that does not go through /proc magic links."),
            HotplugFailure.TargetNotFound => ("TargetNotFound", ErrorCategory.ObjectNotFound,
                "Create it inside the container first, or add -CreateTarget."),
            HotplugFailure.CreateTargetFailed => ("CreateTargetFailed", ex.Syscall is { } s ? CategoryOf(s.Errno) : ErrorCategory.WriteError,
                "Check that the container's filesystem is writable at that place and not full."),
            HotplugFailure.TargetTypeMismatch => ("TargetTypeMismatch", ErrorCategory.InvalidArgument,
                "Mount a directory onto a directory and a file onto a file; choose another -Target."),
            HotplugFailure.TargetIsMountPoint => ("TargetIsMountPoint", ErrorCategory.ResourceExists,
                "Choose another -Target, or add -Force to stack the new mount on top of the existing one."),
            HotplugFailure.TargetIsSymlink => ("TargetIsSymlink", ErrorCategory.InvalidArgument,
                "Name the directory or file the link points to (readlink it inside the container); links are followed in the other components."),
            HotplugFailure.ContainerExited => ("ContainerExited", ErrorCategory.ObjectNotFound,
                "Start the container again and get a new object with Get-ContainerNamespace."),
            HotplugFailure.EnterNamespaceFailed => ("EnterNamespaceFailed", ex.Syscall is { } s ? CategoryOf(s.Errno) : ErrorCategory.NotSpecified,
                ex.Syscall is { } s2 ? HintFor(s2.Syscall, s2.Errno) : null),
            HotplugFailure.MoveMountFailed => ("MoveMountFailed", ex.Syscall is { } s ? CategoryOf(s.Errno) : ErrorCategory.NotSpecified,
                ex.Syscall is { } s3 ? HintFor(s3.Syscall, s3.Errno) : null),
            HotplugFailure.MoveNotVerified => ("MoveNotVerified", ErrorCategory.InvalidResult,
                "Something inside the container changed the target while it was mounted; the move was undone. Try again."),
            _ => ("HotplugFailed", ErrorCategory.NotSpecified, null),
        };

        string message = ex.Syscall is { } cause ? $"{ex.Message} {cause.Message}" : ex.Message;
        return Build(ex, id, category, target, message, hint);
    }

    /// <summary>An error that is not about a system call (bad input, wrong state).</summary>
    internal static ErrorRecord Plain(string errorId, ErrorCategory category, object? target, string message, string? hint = null) =>
        Build(new InvalidOperationException(message), errorId, category, target, message, hint);

    private static ErrorRecord Build(Exception ex, string errorId, ErrorCategory category, object? target, string message, string? hint)
    {
        var record = new ErrorRecord(ex, errorId, category, target)
        {
            ErrorDetails = new ErrorDetails(hint is null ? message : $"{message} {hint}") { RecommendedAction = hint ?? string.Empty },
        };
        return record;
    }
}
