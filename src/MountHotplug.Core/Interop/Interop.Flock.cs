namespace MountHotplug;

internal static partial class MountSyscalls
{
    private const int LockExclusive = 2;

    /// <summary>flock(fd, LOCK_EX): waits for an exclusive advisory lock, which ends when the descriptor is closed.</summary>
    public static void LockExclusiveBlocking(SafeHandle file, string? name = null)
    {
        using var f = DescriptorLease.Of(file);
        while (true)
        {
            if (Interop.Syscall(SyscallNumbers.Flock, out int errno, f.Fd, LockExclusive) == 0)
            {
                return;
            }

            if (errno != (int)Errno.EINTR)
            {
                throw SyscallException.Create("flock", errno, name);
            }
        }
    }
}
