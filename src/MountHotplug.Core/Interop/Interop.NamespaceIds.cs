namespace MountHotplug;

internal static partial class MountSyscalls
{
    private const uint NsGetMountNamespaceId = 0x8008b705;   // NS_GET_MNTNS_ID (6.11)
    private const uint PidfdGetMountNamespace = 0xff03;      // PIDFD_GET_MNT_NAMESPACE (6.11)

    /// <summary>
    /// A descriptor of the mount namespace of the process that <paramref name="pidfd"/> pins: from the pidfd itself where the
    /// kernel can (PIDFD_GET_MNT_NAMESPACE), else /proc/PID/ns/mnt, checked through the pidfd to belong to that process.
    /// </summary>
    public static SafeNamespaceHandle OpenMountNamespace(SafePidfdHandle pidfd, int pid)
    {
        using (var p = DescriptorLease.Of(pidfd))
        {
            long fd = Interop.Syscall(SyscallNumbers.Ioctl, out int errno, p.Fd, (nint)PidfdGetMountNamespace, 0);
            if (fd >= 0)
            {
                return new SafeNamespaceHandle((int)fd);
            }

            if (errno == (int)Errno.ESRCH)
            {
                throw SyscallException.Create("ioctl(PIDFD_GET_MNT_NAMESPACE)", errno, $"PID {pid}");
            }
        }

        var ns = new SafeNamespaceHandle(OpenDescriptor($"/proc/{pid}/ns/mnt", OpenFlags.ReadOnly));
        if (!IsAlive(pidfd))
        {
            ns.Dispose();
            throw Exited(pid, $"/proc/{pid}/ns/mnt");
        }

        return ns;
    }

    /// <summary>The calling thread's mount namespace (/proc/thread-self/ns/mnt).</summary>
    public static SafeNamespaceHandle OpenOwnMountNamespace() => new(OpenDescriptor("/proc/thread-self/ns/mnt", OpenFlags.ReadOnly));

    /// <summary>
    /// The kernel's 64-bit id of a mount namespace (NS_GET_MNTNS_ID), as statmount and listmount use it; not the nsfs inode
    /// number. 0 or errno (ENOTTY before 6.11).
    /// </summary>
    public static unsafe int TryGetMountNamespaceId(SafeNamespaceHandle ns, out ulong id)
    {
        ulong value = 0;
        using var n = DescriptorLease.Of(ns);
        int errno = Interop.Syscall(SyscallNumbers.Ioctl, out int e, n.Fd, unchecked((nint)NsGetMountNamespaceId), (nint)(&value)) == 0 ? 0 : e;
        id = errno == 0 ? value : 0;
        return errno;
    }
}
