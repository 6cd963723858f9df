namespace MountHotplug.Native;

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

    /// <summary>umount2(".", MNT_DETACH) after fchdir onto the mount root: no path string from the container is used.</summary>
    internal static unsafe int TryDetachCurrentDirectory()
    {
        byte* dot = stackalloc byte[2] { (byte)'.', 0 };
        return TryDetach(dot);
    }

    /// <summary>
    /// umount2(path, MNT_DETACH) of a /proc/self/fd/N path, which the kernel follows to the mount the descriptor is on: for the
    /// caller's own namespace, where fchdir would move the working directory of every thread.
    /// </summary>
    internal static unsafe int TryDetachPath(string path)
    {
        const int MntDetach = 2;
        byte[] native = NativePath.ToNullTerminated(path);
        fixed (byte* p = native)
        {
            return Interop.Syscall(SyscallNumbers.Umount2, out int errno, (nint)p, MntDetach) == 0 ? 0 : errno;
        }
    }

    /// <summary>umount2(name, MNT_DETACH | UMOUNT_NOFOLLOW), relative to the thread's working directory.</summary>
    internal static unsafe int TryDetach(byte* name)
    {
        const int MntDetach = 2, UmountNoFollow = 8;
        return Interop.Syscall(SyscallNumbers.Umount2, out int errno, (nint)name, MntDetach | UmountNoFollow) == 0 ? 0 : errno;
    }
}
