namespace MountHotplug;

/// <summary>Which step of a hot-plug failed; each has its own error id in the cmdlets.</summary>
public enum HotplugFailure
{
    InvalidTarget,
    TargetNotFound,
    CreateTargetFailed,
    TargetTypeMismatch,
    TargetIsMountPoint,
    TargetIsSymlink,
    ContainerExited,
    EnterNamespaceFailed,
    MoveMountFailed,
    MoveNotVerified,

    /// <summary>-Replace: the target is not a mount point, so there is nothing to replace.</summary>
    ReplaceTargetNotMounted,

    /// <summary>-Replace: MOVE_MOUNT_BENEATH, or detaching the old top mount, failed.</summary>
    ReplaceFailed,

    /// <summary>Remove-Mount: the path is not a mount point inside the namespace.</summary>
    NotMounted,

    /// <summary>Remove-Mount: the mount at the path is not the one the input object describes.</summary>
    MountChanged,

    /// <summary>Remove-Mount: umount2 said EBUSY; the message names what holds the mount.</summary>
    MountBusy,

    /// <summary>Remove-Mount: umount2 failed for another reason.</summary>
    UnmountFailed,

    /// <summary>Remove-Mount: after umount2 the mount is still at the path.</summary>
    UnmountNotVerified,
}

/// <summary>A hot-plug step failed; nothing it did is left behind. The syscall failure, if any, is the inner exception.</summary>
public sealed class HotplugException : Exception
{
    public HotplugException(HotplugFailure failure, string target, string message, SyscallException? syscall = null)
        : base(message, syscall)
    {
        Failure = failure;
        Target = target;
    }

    public HotplugFailure Failure { get; }

    /// <summary>The target path inside the container.</summary>
    public string Target { get; }

    public SyscallException? Syscall => InnerException as SyscallException;
}
