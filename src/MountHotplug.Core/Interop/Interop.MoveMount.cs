namespace MountHotplug;

[Flags]
public enum MoveMountFlags : uint
{
    None = 0,
    FromSymlinks = 0x1,
    FromAutomounts = 0x2,
    FromEmptyPath = 0x4,
    ToSymlinks = 0x10,
    ToAutomounts = 0x20,
    ToEmptyPath = 0x40,
    SetGroup = 0x100,   // 5.15
    Beneath = 0x200,    // 6.5
}

internal static partial class MountSyscalls
{
    /// <summary>
    /// move_mount(2) between two descriptors (F_EMPTY_PATH | T_EMPTY_PATH). Returns 0 or the errno, and throws
    /// nothing, so that it can run on a thread that is inside a container (kernel-notes N7).
    /// </summary>
    internal static unsafe int TryMoveMount(int fromFd, int toFd, MoveMountFlags flags)
    {
        byte empty = 0;
        long rc = Interop.Syscall(SyscallNumbers.MoveMount, out int errno,
            fromFd, (nint)(&empty), toFd, (nint)(&empty), (nint)(flags | MoveMountFlags.FromEmptyPath | MoveMountFlags.ToEmptyPath));
        return rc == 0 ? 0 : errno;
    }

    /// <summary>move_mount(2) between two descriptors, for calls that need no namespace change (MOVE_MOUNT_SET_GROUP).</summary>
    public static void MoveMount(SafeHandle from, SafeHandle to, MoveMountFlags flags, string? fromName = null, string? toName = null)
    {
        using var f = DescriptorLease.Of(from);
        using var t = DescriptorLease.Of(to);
        int errno = TryMoveMount(f.Fd, t.Fd, flags);
        if (errno != 0)
        {
            throw SyscallException.Create("move_mount", errno, fromName, toName);
        }
    }
}
