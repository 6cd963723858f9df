using System.Runtime.InteropServices;

namespace MountHotplug;

[Flags]
public enum OpenFlags : ulong
{
    ReadOnly = 0,
    WriteOnly = 0x1,
    ReadWrite = 0x2,
    Create = 0x40,
    Exclusive = 0x80,
    NonBlock = 0x800,
    Directory = 0x10000,
    NoFollow = 0x20000,
    CloseOnExec = 0x80000,
    Path = 0x200000,
}

[Flags]
public enum ResolveFlags : ulong
{
    None = 0,
    NoXdev = 0x1,
    NoMagicLinks = 0x2,
    NoSymlinks = 0x4,
    Beneath = 0x8,
    InRoot = 0x10,
    Cached = 0x20,
}

internal static partial class MountSyscalls
{
    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>openat2(2); returns the descriptor, or null with <paramref name="errno"/> set.</summary>
    public static unsafe SafePathHandle? TryOpenAt2(SafeHandle? directory, string path, OpenFlags flags, ResolveFlags resolve, out int errno,
        uint mode = 0)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        var how = new OpenHow { Flags = (ulong)(flags | OpenFlags.CloseOnExec), Mode = mode, Resolve = (ulong)resolve };
        using var dir = DescriptorLease.Of(directory);
        fixed (byte* p = native)
        {
            long fd = Interop.Syscall(SyscallNumbers.OpenAt2, out errno, dir.Fd, (nint)p, (nint)(&how), sizeof(OpenHow));
            return fd >= 0 ? new SafePathHandle((int)fd) : null;
        }
    }

    /// <summary>openat2(2), throwing on failure.</summary>
    public static SafePathHandle OpenAt2(SafeHandle? directory, string path, OpenFlags flags, ResolveFlags resolve, string? displayPath = null) =>
        TryOpenAt2(directory, path, flags, resolve, out int errno)
        ?? throw SyscallException.Create("openat2", errno, displayPath ?? path);

    /// <summary>openat(2) of a host path (AT_FDCWD); for /proc entries and similar.</summary>
    public static SafePathHandle Open(string path, OpenFlags flags, uint mode = 0) => new(OpenDescriptor(path, flags, mode));

    /// <summary>openat(2) of a host path, returning the bare descriptor for the caller to wrap in its SafeHandle type.</summary>
    private static unsafe int OpenDescriptor(string path, OpenFlags flags, uint mode = 0)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        fixed (byte* p = native)
        {
            long fd = Interop.Syscall(SyscallNumbers.OpenAt, out int errno, DescriptorLease.AtFdCwd, (nint)p, (nint)(ulong)(flags | OpenFlags.CloseOnExec), (nint)mode);
            return fd >= 0 ? (int)fd : throw SyscallException.Create("openat", errno, path);
        }
    }
}
