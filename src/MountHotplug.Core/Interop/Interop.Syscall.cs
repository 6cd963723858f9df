using System.Runtime.InteropServices;

namespace MountHotplug;

internal static partial class Interop
{
    // Every call goes through libc's syscall(3): one entry point that is bound once, on a host thread,
    // before any thread enters a container (kernel-notes N7), and that works on C libraries
    // which lack wrappers for the newer mount calls (glibc < 2.36, musl).
    internal const string Libc = "libc.so.6";

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial long RawSyscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5);

    /// <summary>Runs a system call; returns its result, or -1 with <paramref name="errno"/> set.</summary>
    internal static long Syscall(long number, out int errno, nint a1 = 0, nint a2 = 0, nint a3 = 0, nint a4 = 0, nint a5 = 0)
    {
        long result = RawSyscall(number, a1, a2, a3, a4, a5);
        errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
        return result;
    }

    /// <summary>Binds the syscall entry point on the calling thread; idempotent.</summary>
    internal static void EnsureBound() => Syscall(SyscallNumbers.GetPid, out _);
}
