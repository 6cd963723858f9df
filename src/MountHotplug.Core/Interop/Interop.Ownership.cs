namespace MountHotplug;

internal static partial class MountSyscalls
{
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>
    /// fchownat(fd, "", uid, gid, AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW): changes the owner of the object the descriptor
    /// (O_PATH is enough) refers to, so that no name is looked up again between resolving and changing it.
    /// </summary>
    public static unsafe int TryChownHandle(SafeHandle handle, uint uid, uint gid)
    {
        byte empty = 0;
        using var h = DescriptorLease.Of(handle);
        return Interop.Syscall(SyscallNumbers.FchownAt, out int errno, h.Fd, (nint)(&empty), (nint)uid, (nint)gid,
            (nint)(AtEmptyPath | AtSymlinkNoFollow)) == 0 ? 0 : errno;
    }
}
