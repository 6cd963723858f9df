namespace MountHotplug;

/// <summary>umount2(2) flags.</summary>
[Flags]
public enum UnmountFlags
{
    None = 0,
    Force = 1,
    Detach = 2,     // MNT_DETACH: lazy
    Expire = 4,
    NoFollow = 8,   // UMOUNT_NOFOLLOW
}

internal static class NamespaceCalls
{
    internal const int CloneFs = 0x200;
    internal const int CloneNewNs = 0x20000;

    /// <summary>unshare(2); 0 or errno. Throws nothing: runs on the namespace thread.</summary>
    internal static int TryUnshare(int flags) =>
        Interop.Syscall(SyscallNumbers.Unshare, out int errno, flags) == 0 ? 0 : errno;

    /// <summary>setns(2); 0 or errno. Throws nothing: runs on the namespace thread.</summary>
    internal static int TrySetNs(int fd, int nsType) =>
        Interop.Syscall(SyscallNumbers.SetNs, out int errno, fd, nsType) == 0 ? 0 : errno;

    internal static int TryFchdir(int fd) =>
        Interop.Syscall(SyscallNumbers.Fchdir, out int errno, fd) == 0 ? 0 : errno;

    /// <summary>umount2(name, flags), relative to the thread's working directory; 0 or errno. Throws nothing: runs on the namespace thread.</summary>
    internal static unsafe int TryUnmount(byte* name, int flags) =>
        Interop.Syscall(SyscallNumbers.Umount2, out int errno, (nint)name, flags) == 0 ? 0 : errno;
}
