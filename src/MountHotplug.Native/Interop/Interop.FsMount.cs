namespace MountHotplug.Native;

public static partial class MountSyscalls
{
    private const uint FsConfigSetString = 1;
    private const uint FsConfigCmdCreate = 6;

    /// <summary>
    /// A new, detached instance of a filesystem (fsopen, fsconfig string options, FSCONFIG_CMD_CREATE, fsmount).
    /// The kernel's own message for a refused option is read from the context descriptor into the exception.
    /// </summary>
    public static unsafe SafeMountHandle NewFilesystemMount(string fsType, IReadOnlyList<(string Key, string Value)> options)
    {
        byte[] type = NativePath.ToNullTerminated(fsType);
        long ctx;
        int errno;
        fixed (byte* t = type)
        {
            ctx = Interop.Syscall(SyscallNumbers.FsOpen, out errno, (nint)t, 1 /* FSOPEN_CLOEXEC */);
        }

        if (ctx < 0)
        {
            throw SyscallException.Create("fsopen", errno, fsType);
        }

        using var context = new SafePathHandle((int)ctx);
        using var c = DescriptorLease.Of(context);
        foreach ((string key, string value) in options)
        {
            byte[] k = NativePath.ToNullTerminated(key);
            byte[] v = NativePath.ToNullTerminated(value);
            fixed (byte* kp = k)
            fixed (byte* vp = v)
            {
                if (Interop.Syscall(SyscallNumbers.FsConfig, out errno, c.Fd, (nint)FsConfigSetString, (nint)kp, (nint)vp, 0) < 0)
                {
                    throw SyscallException.Create("fsconfig", errno, $"{fsType} {key}={value}", detail: ReadContextMessages(c.Fd));
                }
            }
        }

        if (Interop.Syscall(SyscallNumbers.FsConfig, out errno, c.Fd, (nint)FsConfigCmdCreate, 0, 0, 0) < 0)
        {
            throw SyscallException.Create("fsconfig", errno, fsType, detail: ReadContextMessages(c.Fd));
        }

        long mnt = Interop.Syscall(SyscallNumbers.FsMount, out errno, c.Fd, 1 /* FSMOUNT_CLOEXEC */, 0);
        return mnt >= 0 ? new SafeMountHandle((int)mnt) : throw SyscallException.Create("fsmount", errno, fsType);
    }

    private static unsafe string? ReadContextMessages(int fd)
    {
        var lines = new List<string>();
        byte* buffer = stackalloc byte[1024];
        for (int i = 0; i < 8; i++)
        {
            long n = Interop.Syscall(SyscallNumbers.Read, out _, fd, (nint)buffer, 1024);
            if (n <= 0)
            {
                break;
            }

            lines.Add(System.Text.Encoding.UTF8.GetString(buffer, (int)n).TrimEnd('\n'));
        }

        return lines.Count == 0 ? null : "The kernel said: " + string.Join("; ", lines);
    }

    /// <summary>umount2(path, MNT_DETACH|UMOUNT_NOFOLLOW) of a path in the caller's own namespace; 0 or errno.</summary>
    public static unsafe int TryDetachPath(string path)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        fixed (byte* p = native)
        {
            return Interop.Syscall(SyscallNumbers.Umount2, out int errno, (nint)p, 2 | 8) == 0 ? 0 : errno;
        }
    }
}
