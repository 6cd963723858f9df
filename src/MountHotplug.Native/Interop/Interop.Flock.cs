namespace MountHotplug.Native;

public static partial class MountSyscalls
{
    private const int LockExclusive = 2;
    private const int LockUnlock = 8;

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

    /// <summary>flock(fd, LOCK_UN).</summary>
    public static void Unlock(SafeHandle file)
    {
        using var f = DescriptorLease.Of(file);
        Interop.Syscall(SyscallNumbers.Flock, out _, f.Fd, LockUnlock);
    }
}
