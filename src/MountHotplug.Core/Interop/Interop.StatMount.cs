namespace MountHotplug;

/// <summary>STATMOUNT_* request bits: which parts of struct statmount to fill.</summary>
[Flags]
public enum StatMountMask : ulong
{
    None = 0,
    SuperBlockBasic = 0x1,
    MountBasic = 0x2,
    PropagateFrom = 0x4,
    MountRoot = 0x8,
    MountPoint = 0x10,
    FileSystemType = 0x20,
    MountNamespaceId = 0x40,
    MountOptions = 0x80,
    FileSystemSubtype = 0x100,
    SuperBlockSource = 0x200,
    OptionArray = 0x400,
    SecurityOptionArray = 0x800,
    SupportedMask = 0x1000,
    UidMap = 0x2000,
    GidMap = 0x4000,
}

/// <summary>Offsets of the fixed part of struct statmount (include/uapi/linux/mount.h); the strings start at 512.</summary>
internal static class StatMountLayout
{
    internal const int Mask = 8;
    internal const int MountOptions = 4;
    internal const int DeviceMajor = 16;
    internal const int DeviceMinor = 20;
    internal const int SuperBlockFlags = 32;
    internal const int FileSystemType = 36;
    internal const int MountId = 40;
    internal const int ParentId = 48;
    internal const int OldMountId = 56;
    internal const int OldParentId = 60;
    internal const int MountAttributes = 64;
    internal const int Propagation = 72;
    internal const int PeerGroup = 80;
    internal const int Master = 88;
    internal const int PropagateFrom = 96;
    internal const int MountRoot = 104;
    internal const int MountPoint = 108;
    internal const int MountNamespaceId = 112;
    internal const int FileSystemSubtype = 120;
    internal const int SuperBlockSource = 124;
    internal const int SupportedMask = 144;
    internal const int UidMapCount = 152;
    internal const int UidMap = 156;
    internal const int GidMapCount = 160;
    internal const int GidMap = 164;
}

internal static partial class MountSyscalls
{
    /// <summary>LSMT_ROOT: list from the root of the namespace (as the caller's root sees it).</summary>
    internal const ulong ListMountRoot = ulong.MaxValue;

    /// <summary>Size of the fixed part of struct statmount; the strings follow it.</summary>
    internal const int StatMountFixedSize = 512;

    /// <summary>struct mnt_id_req, MNT_ID_REQ_SIZE_VER1 (6.11+). The kernel accepts it on 6.8 as long as mnt_ns_id is 0.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MountIdRequest
    {
        public uint Size;
        public uint MountNamespaceFd;
        public ulong MountId;
        public ulong Param;
        public ulong MountNamespaceId;

        public MountIdRequest(ulong mountId, ulong param, ulong namespaceId)
        {
            Size = (uint)sizeof(MountIdRequest);
            MountNamespaceFd = 0;
            MountId = mountId;
            Param = param;
            MountNamespaceId = namespaceId;
        }
    }

    /// <summary>
    /// listmount(2): up to <paramref name="count"/> unique mount ids below <paramref name="parent"/> (LSMT_ROOT for all), after
    /// <paramref name="after"/> (0 to start), in the namespace <paramref name="namespaceId"/> (0: the caller's). Returns how many
    /// were written, or -1 with errno.
    /// </summary>
    internal static unsafe long TryListMount(ulong parent, ulong namespaceId, ulong after, ulong* ids, int count, out int errno)
    {
        var request = new MountIdRequest(parent, after, namespaceId);
        return Interop.Syscall(SyscallNumbers.ListMount, out errno, (nint)(&request), (nint)ids, count, 0);
    }

    /// <summary>statmount(2) of one mount into <paramref name="buffer"/>; 0 or errno (EOVERFLOW: the buffer is too small).</summary>
    internal static unsafe int TryStatMount(ulong mountId, ulong namespaceId, StatMountMask mask, byte* buffer, int size)
    {
        var request = new MountIdRequest(mountId, (ulong)mask, namespaceId);
        return TryStatMount(&request, buffer, size);
    }

    /// <summary>statmount(2) with a prepared request; 0 or errno. Throws nothing: it also runs on a namespace thread.</summary>
    internal static unsafe int TryStatMount(MountIdRequest* request, byte* buffer, int size) =>
        Interop.Syscall(SyscallNumbers.StatMount, out int errno, (nint)request, (nint)buffer, size, 0) == 0 ? 0 : errno;
}
