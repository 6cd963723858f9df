namespace MountHotplug.Native;

public static partial class MountSyscalls
{
    /// <summary>pidfd_open(2).</summary>
    public static SafePidfdHandle PidfdOpen(int pid)
    {
        long fd = Interop.Syscall(SyscallNumbers.PidfdOpen, out int errno, pid, 0);
        return fd >= 0 ? new SafePidfdHandle((int)fd) : throw SyscallException.Create("pidfd_open", errno, $"PID {pid}");
    }

    /// <summary>
    /// Whether the pinned process still runs: pidfd_send_signal with signal 0 checks without signalling.
    /// A pidfd never refers to a later process that reuses the PID, so this also proves /proc/PID is still it.
    /// </summary>
    public static bool IsAlive(SafePidfdHandle pidfd)
    {
        using var p = DescriptorLease.Of(pidfd);
        long rc = Interop.Syscall(SyscallNumbers.PidfdSendSignal, out int errno, p.Fd, 0, 0, 0);
        return rc == 0 || errno == (int)Errno.EPERM;
    }
}
