namespace MountHotplug;

/// <summary>What statx(2) said about a file or mount.</summary>
public readonly record struct StatxInfo(
    uint Mask,
    uint Mode,
    uint Uid,
    uint Gid,
    ulong Inode,
    uint DeviceMajor,
    uint DeviceMinor,
    ulong MountId,
    bool MountIdIsUnique,
    bool IsMountRoot,
    bool MountRootKnown,
    ulong Size = 0)
{
    private const uint TypeMask = 0xF000;
    public bool IsDirectory => (Mode & TypeMask) == 0x4000;
    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;
    public bool IsSymlink => (Mode & TypeMask) == 0xA000;
    public bool IsSocket => (Mode & TypeMask) == 0xC000;

    /// <summary>"directory", "file", "symlink", … for messages.</summary>
    public string KindName => (Mode & TypeMask) switch
    {
        0x4000 => "directory",
        0x8000 => "file",
        0xA000 => "symbolic link",
        0x2000 => "character device",
        0x6000 => "block device",
        0x1000 => "FIFO",
        0xC000 => "socket",
        _ => "file",
    };
}

internal static partial class MountSyscalls
{
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxGid = 0x10, StatxIno = 0x100, StatxSize = 0x200;
    private const uint StatxMntId = 0x1000, StatxMntIdUnique = 0x4000;
    private const ulong StatxAttrMountRoot = 0x2000;
    private const int StatxBufferSize = 256;

    /// <summary>statx(2) of the object a descriptor refers to (AT_EMPTY_PATH); prefers the 64-bit unique mount id (6.8+).</summary>
    public static unsafe StatxInfo Statx(SafeHandle handle, string? name = null, bool uniqueMountId = true)
    {
        byte* buffer = stackalloc byte[StatxBufferSize];
        byte empty = 0;
        uint mask = MaskFor(uniqueMountId);
        using var h = DescriptorLease.Of(handle);
        long rc = Interop.Syscall(SyscallNumbers.Statx, out int errno, h.Fd, (nint)(&empty), (nint)AtEmptyPath, (nint)mask, (nint)buffer);
        if (rc != 0)
        {
            throw SyscallException.Create("statx", errno, name);
        }

        uint gotMask = *(uint*)buffer;
        if (uniqueMountId && (gotMask & (StatxMntIdUnique | StatxMntId)) == 0)
        {
            // Kernels before 6.8 ignore STATX_MNT_ID_UNIQUE; ask for the old id instead.
            return Statx(handle, name, uniqueMountId: false);
        }

        return Decode(buffer);
    }

    /// <summary>
    /// statx(2) of a path, following a final symlink (so /proc/PID/root gives that process's root directory); 0 or errno.
    /// Asks for the same fields as <see cref="Statx"/>, so the two can be compared.
    /// </summary>
    public static int TryStatxPath(string path, bool uniqueMountId, out StatxInfo info) =>
        TryStatx(null, path, 0, uniqueMountId, out info);

    /// <summary>
    /// statx(2) of <paramref name="name"/> in the directory <paramref name="directory"/> refers to, not following a final
    /// symlink; 0 or errno. Asks for the same fields as <see cref="Statx"/>.
    /// </summary>
    public static int TryStatxAt(SafeHandle directory, string name, bool uniqueMountId, out StatxInfo info) =>
        TryStatx(directory, name, AtSymlinkNoFollow, uniqueMountId, out info);

    private static unsafe int TryStatx(SafeHandle? directory, string name, uint atFlags, bool uniqueMountId, out StatxInfo info)
    {
        byte* buffer = stackalloc byte[StatxBufferSize];
        uint mask = MaskFor(uniqueMountId);
        long rc;
        int errno;
        using var d = DescriptorLease.Of(directory);
        fixed (byte* p = NativePath.ToNullTerminated(name))
        {
            rc = Interop.Syscall(SyscallNumbers.Statx, out errno, d.Fd, (nint)p, (nint)atFlags, (nint)mask, (nint)buffer);
        }

        info = rc == 0 ? Decode(buffer) : default;
        return rc == 0 ? 0 : errno;
    }

    // The fields every statx here asks for, so that results of Statx and TryStatxPath can be compared.
    private static uint MaskFor(bool uniqueMountId) =>
        StatxType | StatxMode | StatxUid | StatxGid | StatxIno | StatxSize | (uniqueMountId ? StatxMntIdUnique : StatxMntId);

    // Offsets of struct statx (include/uapi/linux/stat.h).
    private static unsafe StatxInfo Decode(byte* buffer)
    {
        uint gotMask = *(uint*)buffer;
        ulong attributes = *(ulong*)(buffer + 8);
        ulong attributesMask = *(ulong*)(buffer + 56);
        return new StatxInfo(
            Mask: gotMask,
            Mode: *(ushort*)(buffer + 28),
            Uid: *(uint*)(buffer + 20),
            Gid: *(uint*)(buffer + 24),
            Inode: *(ulong*)(buffer + 32),
            DeviceMajor: *(uint*)(buffer + 136),
            DeviceMinor: *(uint*)(buffer + 140),
            MountId: *(ulong*)(buffer + 144),
            MountIdIsUnique: (gotMask & StatxMntIdUnique) != 0,
            IsMountRoot: (attributes & StatxAttrMountRoot) != 0,
            MountRootKnown: (attributesMask & StatxAttrMountRoot) != 0,
            Size: *(ulong*)(buffer + 40));
    }
}
