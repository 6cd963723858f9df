namespace MountHotplug;

internal static partial class MountSyscalls
{
    internal const uint FanCloexec = 0x1, FanNonblock = 0x2, FanReportMnt = 0x4000;
    internal const uint FanMarkAdd = 0x1, FanMarkMntns = 0x110;
    internal const ulong FanMntAttach = 0x01000000, FanMntDetach = 0x02000000, FanQueueOverflow = 0x4000;
    internal const byte FanEventInfoTypeMnt = 7;

    /// <summary>
    /// A fanotify group for mount notifications (FAN_REPORT_MNT, non-blocking) marked on the mount namespace
    /// <paramref name="mountNamespace"/> (FAN_MARK_MNTNS): attach and detach events of that namespace arrive without any
    /// thread entering it.
    /// </summary>
    /// <exception cref="SyscallException">fanotify_init or fanotify_mark failed (EINVAL: the kernel lacks mount notifications).</exception>
    public static SafeFanotifyHandle WatchMountNamespace(SafeNamespaceHandle mountNamespace, string name)
    {
        long fd = Interop.Syscall(SyscallNumbers.FanotifyInit, out int errno, (nint)(FanReportMnt | FanCloexec | FanNonblock), 0);
        if (fd < 0)
        {
            throw SyscallException.Create("fanotify_init", errno, name);
        }

        var group = new SafeFanotifyHandle((int)fd);
        try
        {
            using var g = DescriptorLease.Of(group);
            using var ns = DescriptorLease.Of(mountNamespace);
            if (Interop.Syscall(SyscallNumbers.FanotifyMark, out errno, g.Fd, (nint)(FanMarkAdd | FanMarkMntns), (nint)(FanMntAttach | FanMntDetach), ns.Fd, 0) != 0)
            {
                throw SyscallException.Create("fanotify_mark", errno, name);
            }

            return group;
        }
        catch
        {
            group.Dispose();
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for <paramref name="file"/> to be readable (ppoll); true when it is.</summary>
    public static unsafe bool WaitReadable(SafeHandle file, TimeSpan timeout)
    {
        using var f = DescriptorLease.Of(file);
        long* spec = stackalloc long[2];
        long ticks = Math.Max(0, timeout.Ticks);
        spec[0] = ticks / TimeSpan.TicksPerSecond;
        spec[1] = ticks % TimeSpan.TicksPerSecond * 100;
        int* pollfd = stackalloc int[2];
        pollfd[0] = f.Fd;
        pollfd[1] = 0x1; // events = POLLIN, revents = 0
        long rc = Interop.Syscall(SyscallNumbers.Ppoll, out int errno, (nint)pollfd, 1, (nint)spec, 0, 8);
        if (rc < 0 && errno != (int)Errno.EINTR)
        {
            throw SyscallException.Create("ppoll", errno, null);
        }

        return rc > 0;
    }

    /// <summary>One read(2) of a non-blocking descriptor into <paramref name="buffer"/>; 0 when nothing is waiting (EAGAIN).</summary>
    public static unsafe int ReadAvailable(SafeHandle file, Span<byte> buffer)
    {
        using var f = DescriptorLease.Of(file);
        fixed (byte* b = buffer)
        {
            long n = Interop.Syscall(SyscallNumbers.Read, out int errno, f.Fd, (nint)b, buffer.Length);
            if (n < 0)
            {
                return errno is (int)Errno.EAGAIN or (int)Errno.EINTR ? 0 : throw SyscallException.Create("read", errno, "fanotify");
            }

            return (int)n;
        }
    }
}
