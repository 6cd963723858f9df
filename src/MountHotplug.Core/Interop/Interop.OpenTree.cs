namespace MountHotplug;

[Flags]
public enum OpenTreeFlags : uint
{
    None = 0,
    Clone = 0x1,              // OPEN_TREE_CLONE
    SymlinkNoFollow = 0x100,  // AT_SYMLINK_NOFOLLOW
    NoAutomount = 0x800,      // AT_NO_AUTOMOUNT
    EmptyPath = 0x1000,       // AT_EMPTY_PATH
    Recursive = 0x8000,       // AT_RECURSIVE, only with Clone
    CloseOnExec = 0x80000,    // OPEN_TREE_CLOEXEC
}

internal static partial class MountSyscalls
{
    /// <summary>open_tree(2): with <see cref="OpenTreeFlags.Clone"/>, a detached copy of the mount at <paramref name="path"/>.</summary>
    public static unsafe SafeMountHandle OpenTree(SafeHandle? directory, string path, OpenTreeFlags flags)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        using var dir = DescriptorLease.Of(directory);
        fixed (byte* p = native)
        {
            long fd = Interop.Syscall(SyscallNumbers.OpenTree, out int errno, dir.Fd, (nint)p, (nint)(flags | OpenTreeFlags.CloseOnExec));
            return fd >= 0 ? new SafeMountHandle((int)fd) : throw SyscallException.Create("open_tree", errno, path);
        }
    }

    /// <summary>
    /// open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLOEXEC | flags): the new descriptor, or -errno. Throws nothing: it also runs
    /// on a namespace thread, where a clone of a mount of that namespace has to be made.
    /// </summary>
    internal static unsafe int TryOpenTreeAt(int fd, OpenTreeFlags flags)
    {
        byte empty = 0;
        long rc = Interop.Syscall(SyscallNumbers.OpenTree, out int errno, fd, (nint)(&empty), (nint)(flags | OpenTreeFlags.EmptyPath | OpenTreeFlags.CloseOnExec));
        return rc >= 0 ? (int)rc : -errno;
    }

    /// <summary>
    /// open_tree_attr(2) (6.15): an OPEN_TREE_CLONE of <paramref name="path"/> with the attributes, the propagation and the
    /// idmap set on the clone before the descriptor exists, in one call (kernel-notes N15). Null and the errno when the
    /// kernel refuses; the caller then makes the same mount with open_tree and mount_setattr, whose errors say which step.
    /// </summary>
    internal static unsafe SafeMountHandle? TryOpenTreeAttr(string path, OpenTreeFlags flags, MountAttributes set, MountAttributes clear,
        MountPropagation propagation, SafeHandle? userNamespace, out int errno)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        using var userns = DescriptorLease.Of(userNamespace);
        var attr = new MountAttr(set | (userNamespace is null ? MountAttributes.None : MountAttributes.IdMap), clear, propagation)
        {
            UsernsFd = userNamespace is null ? 0 : (ulong)userns.Fd,
        };
        fixed (byte* p = native)
        {
            long fd = Interop.Syscall(SyscallNumbers.OpenTreeAttr, out errno, DescriptorLease.AtFdCwd, (nint)p, (nint)(flags | OpenTreeFlags.Clone | OpenTreeFlags.CloseOnExec),
                (nint)(&attr), sizeof(MountAttr));
            return fd >= 0 ? new SafeMountHandle((int)fd) : null;
        }
    }
}
