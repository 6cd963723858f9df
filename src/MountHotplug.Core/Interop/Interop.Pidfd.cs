namespace MountHotplug;

internal static partial class MountSyscalls
{
    /// <summary>pidfd_open(2).</summary>
    public static SafePidfdHandle PidfdOpen(int pid)
    {
        long fd = Interop.Syscall(SyscallNumbers.PidfdOpen, out int errno, pid, 0);
        return fd >= 0 ? new SafePidfdHandle((int)fd) : throw SyscallException.Create("pidfd_open", errno, $"PID {pid}");
    }

    /// <summary>
    /// pidfd_getfd(2): a duplicate of descriptor <paramref name="targetFd"/> of the process <paramref name="pidfd"/> pins,
    /// taken as a mount descriptor (the -Seal helper hands its sealed clone back this way). Needs ptrace access to it.
    /// </summary>
    internal static SafeMountHandle PidfdGetMount(SafePidfdHandle pidfd, int targetFd, string description)
    {
        using var p = DescriptorLease.Of(pidfd);
        long fd = Interop.Syscall(SyscallNumbers.PidfdGetFd, out int errno, p.Fd, targetFd, 0);
        return fd >= 0 ? new SafeMountHandle((int)fd) : throw SyscallException.Create("pidfd_getfd", errno, description);
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

    /// <summary>
    /// The failure to report when <see cref="IsAlive"/> said no: that call, pidfd_send_signal(0), is what found the process
    /// gone, and ESRCH is what it returned. Never stands in for another call that failed for another reason.
    /// </summary>
    internal static SyscallException Exited(int pid, string? path = null) =>
        SyscallException.Create("pidfd_send_signal", (int)Errno.ESRCH, path ?? $"PID {pid}", detail: $"Process {pid} has exited.");
}
