namespace MountHotplug;

/// <summary>Linux errno values that the mount calls return (asm-generic numbering, used by x86_64 and arm64).</summary>
public enum Errno
{
    None = 0,
    EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, ECHILD = 10,
    EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, ENOTBLK = 15, EBUSY = 16, EEXIST = 17, EXDEV = 18,
    ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26, EFBIG = 27,
    ENOSPC = 28, EROFS = 30, EMLINK = 31, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
    ENODATA = 61, EOVERFLOW = 75, EOPNOTSUPP = 95, ESTALE = 116,
}

/// <summary>Names and fixed English descriptions of errno values; independent of the C library's locale.</summary>
public static class ErrnoText
{
    private static readonly Dictionary<Errno, string> Descriptions = new()
    {
        [Errno.EPERM] = "Operation not permitted",
        [Errno.ENOENT] = "No such file or directory",
        [Errno.ESRCH] = "No such process",
        [Errno.EINTR] = "Interrupted system call",
        [Errno.EIO] = "Input/output error",
        [Errno.ENXIO] = "No such device or address",
        [Errno.E2BIG] = "Argument list too long",
        [Errno.EBADF] = "Bad file descriptor",
        [Errno.ECHILD] = "No child processes",
        [Errno.EAGAIN] = "Resource temporarily unavailable",
        [Errno.ENOMEM] = "Cannot allocate memory",
        [Errno.EACCES] = "Permission denied",
        [Errno.EFAULT] = "Bad address",
        [Errno.ENOTBLK] = "Block device required",
        [Errno.EBUSY] = "Device or resource busy",
        [Errno.EEXIST] = "File exists",
        [Errno.EXDEV] = "Invalid cross-device link",
        [Errno.ENODEV] = "No such device",
        [Errno.ENOTDIR] = "Not a directory",
        [Errno.EISDIR] = "Is a directory",
        [Errno.EINVAL] = "Invalid argument",
        [Errno.ENFILE] = "Too many open files in system",
        [Errno.EMFILE] = "Too many open files",
        [Errno.ENOTTY] = "Inappropriate ioctl for device",
        [Errno.ETXTBSY] = "Text file busy",
        [Errno.EFBIG] = "File too large",
        [Errno.ENOSPC] = "No space left on device",
        [Errno.EROFS] = "Read-only file system",
        [Errno.EMLINK] = "Too many links",
        [Errno.ERANGE] = "Numerical result out of range",
        [Errno.ENAMETOOLONG] = "File name too long",
        [Errno.ENOSYS] = "Function not implemented",
        [Errno.ENOTEMPTY] = "Directory not empty",
        [Errno.ELOOP] = "Too many levels of symbolic links",
        [Errno.ENODATA] = "No data available",
        [Errno.EOVERFLOW] = "Value too large for defined data type",
        [Errno.EOPNOTSUPP] = "Operation not supported",
        [Errno.ESTALE] = "Stale file handle",
    };

    /// <summary>"ENOENT", or "errno 123" for a value this table does not know.</summary>
    public static string Name(int errno) =>
        Enum.IsDefined(typeof(Errno), errno) && errno != 0 ? ((Errno)errno).ToString() : $"errno {errno}";

    public static string Describe(int errno) =>
        Descriptions.TryGetValue((Errno)errno, out string? text) ? text : "Unknown error";
}
