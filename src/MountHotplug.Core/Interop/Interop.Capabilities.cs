namespace MountHotplug;

internal static partial class MountSyscalls
{
    private const uint LinuxCapabilityVersion3 = 0x20080522;
    private const int CapSysAdmin = 21;

    /// <summary>Whether the calling thread has CAP_SYS_ADMIN in its effective set (capget(2)).</summary>
    public static unsafe bool HasCapSysAdmin()
    {
        uint* header = stackalloc uint[2] { LinuxCapabilityVersion3, 0 };
        uint* data = stackalloc uint[6];   // two struct __user_cap_data_struct {effective, permitted, inheritable}
        if (Interop.Syscall(SyscallNumbers.CapGet, out _, (nint)header, (nint)data) != 0)
        {
            return false;
        }

        return (data[0] & (1u << CapSysAdmin)) != 0;
    }
}
