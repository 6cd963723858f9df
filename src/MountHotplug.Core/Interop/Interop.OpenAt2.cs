using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>
/// O_* flags, numbered as the generic uapi header (and x86_64) numbers them. The interop passes them to the kernel through
/// <see cref="OpenFlagValues.ForKernel(OpenFlags)"/>, which renumbers the ones the process's architecture numbers otherwise.
/// </summary>
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

/// <summary>
/// The kernel's numbers for <see cref="OpenFlags"/>. arm64 numbers O_DIRECTORY and O_NOFOLLOW 0x4000 and 0x8000; there the
/// generic values mean O_DIRECT and O_LARGEFILE, which open and openat2 take without a word, so a directory check or a
/// no-follow would silently be lost (kernel-notes N1). Every other flag of the enum has one value on both.
/// </summary>
internal static class OpenFlagValues
{
    private const OpenFlags Renumbered = OpenFlags.Directory | OpenFlags.NoFollow;
    private const ulong Arm64Directory = 0x4000;
    private const ulong Arm64NoFollow = 0x8000;

    private static readonly Architecture ProcessArchitecture = RuntimeInformation.ProcessArchitecture;

    /// <summary><paramref name="flags"/> as the kernel this process runs on numbers them.</summary>
    internal static ulong ForKernel(OpenFlags flags) => ForKernel(flags, ProcessArchitecture);

    /// <summary><paramref name="flags"/> as the kernel numbers them on <paramref name="architecture"/> (x86_64 or arm64, as <see cref="SyscallNumbers"/>).</summary>
    internal static ulong ForKernel(OpenFlags flags, Architecture architecture)
    {
        if (architecture != Architecture.Arm64 || (flags & Renumbered) == 0)
        {
            return (ulong)flags;
        }

        return (ulong)(flags & ~Renumbered)
            | ((flags & OpenFlags.Directory) != 0 ? Arm64Directory : 0)
            | ((flags & OpenFlags.NoFollow) != 0 ? Arm64NoFollow : 0);
    }
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

    // A lookup kept inside its starting directory answers EAGAIN when a rename or mount anywhere on the system raced one
    // of its ".." steps, and the kernel asks the caller to try again (kernel-notes N9); nothing has been opened or created
    // then. Bounded, so that a container renaming without pause cannot keep a caller looping: measured on the project's
    // VM against a thread that does nothing but rename, one lookup in thirty answered EAGAIN.
    private const ResolveFlags ScopedLookup = ResolveFlags.InRoot | ResolveFlags.Beneath;
    private const int ScopedLookupAttempts = 16;

    /// <summary>
    /// openat2(2); returns the descriptor, or null with <paramref name="errno"/> set. A scoped lookup that races a rename
    /// (EAGAIN) is tried again, up to <see cref="ScopedLookupAttempts"/> times in all.
    /// </summary>
    public static unsafe SafePathHandle? TryOpenAt2(SafeHandle? directory, string path, OpenFlags flags, ResolveFlags resolve, out int errno,
        uint mode = 0)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        var how = new OpenHow { Flags = OpenFlagValues.ForKernel(flags | OpenFlags.CloseOnExec), Mode = mode, Resolve = (ulong)resolve };
        int attempts = (resolve & ScopedLookup) != 0 ? ScopedLookupAttempts : 1;
        using var dir = DescriptorLease.Of(directory);
        fixed (byte* p = native)
        {
            for (int attempt = 1; ; attempt++)
            {
                long fd = Interop.Syscall(SyscallNumbers.OpenAt2, out errno, dir.Fd, (nint)p, (nint)(&how), sizeof(OpenHow));
                if (fd >= 0)
                {
                    return new SafePathHandle((int)fd);
                }

                if (errno != (int)Errno.EAGAIN || attempt == attempts)
                {
                    return null;
                }
            }
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
            long fd = Interop.Syscall(SyscallNumbers.OpenAt, out int errno, DescriptorLease.AtFdCwd, (nint)p, (nint)OpenFlagValues.ForKernel(flags | OpenFlags.CloseOnExec), (nint)mode);
            return fd >= 0 ? (int)fd : throw SyscallException.Create("openat", errno, path);
        }
    }
}
