using System.Text;

namespace MountHotplug.Native;

public static partial class MountSyscalls
{
    private const uint FsOpenCloseOnExec = 1, FsMountCloseOnExec = 1;
    private const uint FsConfigSetFlag = 0, FsConfigSetString = 1, FsConfigCreate = 6;

    /// <summary>fsopen(2): a new filesystem context of <paramref name="fileSystemType"/> (ENODEV: no such type).</summary>
    public static unsafe SafeFsContextHandle FsOpen(string fileSystemType)
    {
        byte[] type = NativePath.ToNullTerminated(fileSystemType);
        fixed (byte* t = type)
        {
            long fd = Interop.Syscall(SyscallNumbers.FsOpen, out int errno, (nint)t, (nint)FsOpenCloseOnExec);
            return fd >= 0 ? new SafeFsContextHandle((int)fd) : throw SyscallException.Create("fsopen", errno, fileSystemType);
        }
    }

    /// <summary>fsconfig(2) of one parameter: "key=value" (FSCONFIG_SET_STRING), or a bare flag when <paramref name="value"/> is null.</summary>
    public static unsafe void FsConfigure(SafeFsContextHandle context, string key, string? value)
    {
        byte[] k = NativePath.ToNullTerminated(key);
        byte[]? v = value is null ? null : NativePath.ToNullTerminated(value);
        using var c = DescriptorLease.Of(context);
        fixed (byte* kp = k)
        fixed (byte* vp = v)
        {
            long rc = Interop.Syscall(SyscallNumbers.FsConfig, out int errno, c.Fd, (nint)(v is null ? FsConfigSetFlag : FsConfigSetString), (nint)kp, (nint)vp, 0);
            if (rc != 0)
            {
                throw SyscallException.Create("fsconfig", errno, value is null ? key : $"{key}={value}", detail: ReadFsContextMessages(context));
            }
        }
    }

    /// <summary>fsconfig(FSCONFIG_CMD_CREATE): makes the superblock.</summary>
    public static void FsCreate(SafeFsContextHandle context, string name)
    {
        using var c = DescriptorLease.Of(context);
        if (Interop.Syscall(SyscallNumbers.FsConfig, out int errno, c.Fd, (nint)FsConfigCreate, 0, 0, 0) != 0)
        {
            throw SyscallException.Create("fsconfig(FSCONFIG_CMD_CREATE)", errno, name, detail: ReadFsContextMessages(context));
        }
    }

    /// <summary>fsmount(2): a detached mount of the created superblock's root.</summary>
    public static SafeMountHandle FsMount(SafeFsContextHandle context, string name)
    {
        using var c = DescriptorLease.Of(context);
        long fd = Interop.Syscall(SyscallNumbers.FsMount, out int errno, c.Fd, (nint)FsMountCloseOnExec, 0);
        return fd >= 0 ? new SafeMountHandle((int)fd) : throw SyscallException.Create("fsmount", errno, name, detail: ReadFsContextMessages(context));
    }

    /// <summary>
    /// The messages the kernel queued on a filesystem context ("e tmpfs: Bad value for 'size'"), one per read(2), joined;
    /// null when there are none.
    /// </summary>
    public static unsafe string? ReadFsContextMessages(SafeFsContextHandle context)
    {
        var messages = new List<string>();
        byte* buffer = stackalloc byte[1024];
        using var c = DescriptorLease.Of(context);
        for (int i = 0; i < 32; i++)
        {
            long n = Interop.Syscall(SyscallNumbers.Read, out _, c.Fd, (nint)buffer, 1024);
            if (n <= 0)
            {
                break;
            }

            messages.Add(Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('\n'));
        }

        return messages.Count == 0 ? null : "Kernel: " + string.Join("; ", messages);
    }
}
