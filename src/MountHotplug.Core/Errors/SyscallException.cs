namespace MountHotplug;

/// <summary>
/// A system call failed. Carries what a user needs to act on it: the call, its errno and the path(s) it concerned.
/// Created only through <see cref="Create"/>, so that every errno maps to the same exception type everywhere.
/// </summary>
public class SyscallException : Exception
{
    protected SyscallException(string syscall, int errno, string? path, string? secondPath, string? detail)
        : base(FormatMessage(syscall, errno, path, secondPath, detail))
    {
        Syscall = syscall;
        ErrnoValue = errno;
        Path = path;
        SecondPath = secondPath;
        Detail = detail;
    }

    /// <summary>The system call, e.g. "open_tree".</summary>
    public string Syscall { get; }

    /// <summary>The raw errno value.</summary>
    public int ErrnoValue { get; }

    public Errno Errno => (Errno)ErrnoValue;

    /// <summary>"ENOENT".</summary>
    public string ErrnoName => ErrnoText.Name(ErrnoValue);

    /// <summary>The path (or object) the call was about, if any.</summary>
    public string? Path { get; }

    /// <summary>A second path, e.g. the target of move_mount.</summary>
    public string? SecondPath { get; }

    /// <summary>Extra text from the kernel or from a diagnosis, if any.</summary>
    public string? Detail { get; }

    public static SyscallException Create(string syscall, int errno, string? path = null, string? secondPath = null, string? detail = null) =>
        (Errno)errno switch
        {
            Errno.EPERM or Errno.EACCES => new SyscallPermissionException(syscall, errno, path, secondPath, detail),
            Errno.ENOENT or Errno.ESRCH => new SyscallNotFoundException(syscall, errno, path, secondPath, detail),
            Errno.ENOSYS or Errno.EOPNOTSUPP => new SyscallNotSupportedException(syscall, errno, path, secondPath, detail),
            Errno.EBUSY => new SyscallBusyException(syscall, errno, path, secondPath, detail),
            Errno.ELOOP => new SyscallSymlinkException(syscall, errno, path, secondPath, detail),
            _ => new SyscallException(syscall, errno, path, secondPath, detail),
        };

    private static string FormatMessage(string syscall, int errno, string? path, string? secondPath, string? detail)
    {
        string subject = (path, secondPath) switch
        {
            (null, null) => syscall,
            (_, null) => $"{syscall} '{path}'",
            (null, _) => $"{syscall} -> '{secondPath}'",
            _ => $"{syscall} '{path}' -> '{secondPath}'",
        };
        string message = $"{subject} failed: {ErrnoText.Name(errno)} ({errno}, {ErrnoText.Describe(errno)}).";
        return detail is null ? message : $"{message} {detail}";
    }
}

/// <summary>EPERM / EACCES: the caller lacks a capability or the object forbids it.</summary>
public sealed class SyscallPermissionException : SyscallException
{
    internal SyscallPermissionException(string s, int e, string? p, string? p2, string? d) : base(s, e, p, p2, d) { }
}

/// <summary>ENOENT / ESRCH: the path or process does not exist (any more).</summary>
public sealed class SyscallNotFoundException : SyscallException
{
    internal SyscallNotFoundException(string s, int e, string? p, string? p2, string? d) : base(s, e, p, p2, d) { }
}

/// <summary>ENOSYS / EOPNOTSUPP: this kernel or filesystem lacks the feature.</summary>
public sealed class SyscallNotSupportedException : SyscallException
{
    internal SyscallNotSupportedException(string s, int e, string? p, string? p2, string? d) : base(s, e, p, p2, d) { }
}

/// <summary>EBUSY: the mount or file is in use.</summary>
public sealed class SyscallBusyException : SyscallException
{
    internal SyscallBusyException(string s, int e, string? p, string? p2, string? d) : base(s, e, p, p2, d) { }
}

/// <summary>ELOOP: a symlink was refused (RESOLVE_NO_MAGICLINKS, O_NOFOLLOW) or there were too many.</summary>
public sealed class SyscallSymlinkException : SyscallException
{
    internal SyscallSymlinkException(string s, int e, string? p, string? p2, string? d) : base(s, e, p, p2, d) { }
}
