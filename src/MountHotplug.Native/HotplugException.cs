namespace MountHotplug.Native;

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
