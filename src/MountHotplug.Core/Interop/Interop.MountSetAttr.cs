using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>MOUNT_ATTR_* bits of struct mount_attr.</summary>
[Flags]
public enum MountAttributes : ulong
{
    None = 0,
    ReadOnly = 0x1,
    NoSuid = 0x2,
    NoDev = 0x4,
    NoExec = 0x8,
    AtimeMask = 0x70,   // MOUNT_ATTR__ATIME: an enum, cleared as a whole (kernel-notes N11)
    NoAtime = 0x10,
    StrictAtime = 0x20,
    NoDirAtime = 0x80,
    IdMap = 0x100000,
    NoSymFollow = 0x200000,
}

/// <summary>Propagation type of a mount; the values are the MS_* flags mount_setattr takes.</summary>
public enum MountPropagation : ulong
{
    Unchanged = 0,
    Unbindable = 0x20000,
    Private = 0x40000,
    Slave = 0x80000,
    Shared = 0x100000,
}

internal static partial class MountSyscalls
{
    private const uint AtEmptyPath = 0x1000;
    private const uint AtRecursive = 0x8000;

    [StructLayout(LayoutKind.Sequential)]
    internal struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UsernsFd;

        public MountAttr(MountAttributes set, MountAttributes clear, MountPropagation propagation)
        {
            AttrSet = (ulong)set;
            AttrClr = (ulong)clear;
            Propagation = (ulong)propagation;
            UsernsFd = 0;
        }
    }

    /// <summary>mount_setattr(2) on the mount a descriptor refers to (AT_EMPTY_PATH), e.g. a detached clone.</summary>
    public static unsafe void MountSetAttr(SafeHandle mount, MountAttributes set, MountAttributes clear, MountPropagation propagation,
        bool recursive, string? name = null)
    {
        var attr = new MountAttr(set, clear, propagation);
        using var m = DescriptorLease.Of(mount);
        int errno = TryMountSetAttr(m.Fd, recursive, &attr);
        if (errno != 0)
        {
            throw SyscallException.Create("mount_setattr", errno, name);
        }
    }

    /// <summary>mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr); 0 or errno. Throws nothing: it also runs on a namespace thread.</summary>
    internal static unsafe int TryMountSetAttr(int fd, bool recursive, MountAttr* attr)
    {
        byte empty = 0;
        uint flags = AtEmptyPath | (recursive ? AtRecursive : 0);
        return Interop.Syscall(SyscallNumbers.MountSetAttr, out int errno, fd, (nint)(&empty), (nint)flags, (nint)attr, sizeof(MountAttr)) == 0 ? 0 : errno;
    }

    /// <summary>
    /// mount_setattr(MOUNT_ATTR_IDMAP) with <paramref name="userNamespace"/>: files of the (detached) mount then show
    /// with ids mapped through that namespace's maps. Returns 0 or errno: EINVAL is also how a filesystem without
    /// idmapping support answers, which the caller tells apart by probing (kernel-notes N12: only once, only detached).
    /// </summary>
    public static unsafe int TryMountSetIdMap(SafeHandle mount, SafeHandle userNamespace, bool recursive)
    {
        using var m = DescriptorLease.Of(mount);
        using var u = DescriptorLease.Of(userNamespace);
        var attr = new MountAttr { AttrSet = (ulong)MountAttributes.IdMap, UsernsFd = (ulong)u.Fd };
        return TryMountSetAttr(m.Fd, recursive, &attr);
    }
}
