namespace MountHotplug;

/// <summary>The type of a namespace, as NS_GET_NSTYPE reports it (the CLONE_NEW* flag).</summary>
public enum NamespaceType
{
    Unknown = 0,
    Mount = 0x20000,
    Cgroup = 0x2000000,
    Uts = 0x4000000,
    Ipc = 0x8000000,
    User = 0x10000000,
    Pid = 0x20000000,
    Network = 0x40000000,
    Time = 0x80,
}

internal static partial class MountSyscalls
{
    private const uint NsGetNsType = 0xb703;

    /// <summary>
    /// ioctl(fd, NS_GET_NSTYPE): which kind of namespace a /proc/PID/ns/* (or bind-mounted nsfs) descriptor is.
    /// ENOTTY or EINVAL for a descriptor that is no namespace at all.
    /// </summary>
    public static NamespaceType GetNamespaceType(SafeHandle handle, string? name = null)
    {
        using var h = DescriptorLease.Of(handle);
        long rc = Interop.Syscall(SyscallNumbers.Ioctl, out int errno, h.Fd, (nint)NsGetNsType);
        if (rc < 0)
        {
            throw SyscallException.Create("ioctl(NS_GET_NSTYPE)", errno, name);
        }

        return Enum.IsDefined(typeof(NamespaceType), (int)rc) ? (NamespaceType)(int)rc : NamespaceType.Unknown;
    }
}
