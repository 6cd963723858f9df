using System.Runtime.InteropServices;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>System calls the container-side threads use, by number (x86_64 and arm64), through the Native entry point.</summary>
internal static unsafe class FsCalls
{
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static readonly long RenameAt2 = IsArm64 ? 276 : 316;
    private static readonly long SymlinkAt = IsArm64 ? 36 : 266;

    internal const int RenameExchange = 2;
    internal const int AtRemoveDir = 0x200;

    internal static int Exchange(int dir, byte* a, byte* b) =>
        Interop.Syscall(RenameAt2, out int errno, dir, (nint)a, dir, (nint)b, RenameExchange) == 0 ? 0 : errno;

    internal static int Symlink(byte* target, int dir, byte* name) =>
        Interop.Syscall(SymlinkAt, out int errno, (nint)target, dir, (nint)name) == 0 ? 0 : errno;

    internal static int Mkdir(int dir, byte* name) =>
        Interop.Syscall(SyscallNumbers.MkdirAt, out int errno, dir, (nint)name, 0x1ED) == 0 ? 0 : errno;

    internal static int Unlink(int dir, byte* name, int flags) =>
        Interop.Syscall(SyscallNumbers.UnlinkAt, out int errno, dir, (nint)name, flags) == 0 ? 0 : errno;

    /// <summary>NUL-terminated UTF-8 in unmanaged memory: nothing to pin or allocate on the container-side thread.</summary>
    internal static byte* Native(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text + "\0");
        byte* memory = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(memory, bytes.Length));
        return memory;
    }
}
