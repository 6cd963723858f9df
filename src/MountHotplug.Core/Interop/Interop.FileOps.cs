namespace MountHotplug;

internal static partial class MountSyscalls
{
    private const int AtRemoveDir = 0x200;

    /// <summary>mkdirat(2) of ONE name in a directory descriptor; an existing symlink there is not followed (EEXIST).</summary>
    public static unsafe int TryMkdirAt(SafeHandle directory, string name, uint mode)
    {
        byte[] native = NativePath.ToNullTerminated(name);
        using var dir = DescriptorLease.Of(directory);
        fixed (byte* p = native)
        {
            return Interop.Syscall(SyscallNumbers.MkdirAt, out int errno, dir.Fd, (nint)p, (nint)mode) == 0 ? 0 : errno;
        }
    }

    /// <summary>unlinkat(2) of ONE name in a directory descriptor.</summary>
    public static unsafe int TryUnlinkAt(SafeHandle directory, string name, bool isDirectory)
    {
        byte[] native = NativePath.ToNullTerminated(name);
        using var dir = DescriptorLease.Of(directory);
        fixed (byte* p = native)
        {
            return Interop.Syscall(SyscallNumbers.UnlinkAt, out int errno, dir.Fd, (nint)p, isDirectory ? AtRemoveDir : 0) == 0 ? 0 : errno;
        }
    }

    /// <summary>
    /// umount2(2) of a path in the caller's own mount namespace; 0 or errno. A /proc/self/fd/N[/name] path names what a
    /// descriptor refers to, which is how the inline worker unmounts without fchdir (that would move every thread).
    /// </summary>
    public static unsafe int TryUnmount(string path, UnmountFlags flags)
    {
        fixed (byte* p = NativePath.ToNullTerminated(path))
        {
            return NamespaceCalls.TryUnmount(p, (int)flags);
        }
    }
}
