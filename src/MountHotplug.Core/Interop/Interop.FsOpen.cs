using System.Text;

namespace MountHotplug;

/// <summary>The kind of a message the kernel logs to a filesystem context ("e ", "w ", "i " prefixes).</summary>
public enum FsMessageKind
{
    Error,
    Warning,
    Info,
}

/// <summary>One message read from a filesystem context descriptor, e.g. (Error, "tmpfs: Bad value for 'size'").</summary>
public sealed record FsContextMessage(FsMessageKind Kind, string Text)
{
    /// <summary>Parses one read(2) result: "e tmpfs: Bad value for 'size'\n". A line without a known prefix is an error.</summary>
    public static FsContextMessage Parse(string line)
    {
        line = line.TrimEnd('\n', '\0');
        if (line.Length >= 2 && line[1] == ' ')
        {
            switch (line[0])
            {
                case 'e': return new FsContextMessage(FsMessageKind.Error, line[2..]);
                case 'w': return new FsContextMessage(FsMessageKind.Warning, line[2..]);
                case 'i': return new FsContextMessage(FsMessageKind.Info, line[2..]);
            }
        }

        return new FsContextMessage(FsMessageKind.Error, line);
    }

    public override string ToString() => Text;
}

internal static partial class MountSyscalls
{
    private const uint FsOpenCloexec = 1;
    private const uint FsMountCloexec = 1;
    private const int FsConfigSetFlag = 0;
    private const int FsConfigSetString = 1;
    private const int FsConfigCmdCreate = 6;

    /// <summary>fsopen(2): a new, unconfigured filesystem context of type <paramref name="fsType"/>.</summary>
    public static unsafe SafeFsContextHandle? TryFsOpen(string fsType, out int errno)
    {
        byte[] name = NativePath.ToNullTerminated(fsType);
        fixed (byte* n = name)
        {
            long fd = Interop.Syscall(SyscallNumbers.FsOpen, out errno, (nint)n, (nint)FsOpenCloexec);
            return fd >= 0 ? new SafeFsContextHandle((int)fd) : null;
        }
    }

    /// <summary>fsconfig(FSCONFIG_SET_STRING, key, value), or FSCONFIG_SET_FLAG when <paramref name="value"/> is null; 0 or errno.</summary>
    public static unsafe int TryFsConfigSet(SafeFsContextHandle context, string key, string? value)
    {
        byte[] k = NativePath.ToNullTerminated(key);
        byte[]? v = value is null ? null : NativePath.ToNullTerminated(value);
        using var c = DescriptorLease.Of(context);
        fixed (byte* kp = k)
        fixed (byte* vp = v)
        {
            long rc = Interop.Syscall(SyscallNumbers.FsConfig, out int errno, c.Fd, v is null ? FsConfigSetFlag : FsConfigSetString, (nint)kp, (nint)vp, 0);
            return rc == 0 ? 0 : errno;
        }
    }

    /// <summary>fsconfig(FSCONFIG_CMD_CREATE): makes (or finds) the superblock; 0 or errno.</summary>
    public static int TryFsConfigCreate(SafeFsContextHandle context)
    {
        using var c = DescriptorLease.Of(context);
        return Interop.Syscall(SyscallNumbers.FsConfig, out int errno, c.Fd, FsConfigCmdCreate, 0, 0, 0) == 0 ? 0 : errno;
    }

    /// <summary>fsmount(2): a detached mount of the created superblock, with <paramref name="attributes"/> (MOUNT_ATTR_*) set.</summary>
    public static SafeMountHandle? TryFsMount(SafeFsContextHandle context, MountAttributes attributes, out int errno)
    {
        using var c = DescriptorLease.Of(context);
        long fd = Interop.Syscall(SyscallNumbers.FsMount, out errno, c.Fd, (nint)FsMountCloexec, (nint)(ulong)attributes);
        return fd >= 0 ? new SafeMountHandle((int)fd) : null;
    }

    /// <summary>
    /// Reads the messages the kernel logged to a filesystem context (each read(2) returns one, until ENODATA). Reading
    /// consumes them, so call it after each failing step.
    /// </summary>
    public static unsafe IReadOnlyList<FsContextMessage> ReadFsMessages(SafeFsContextHandle context)
    {
        var messages = new List<FsContextMessage>();
        const int size = 4096;
        byte* buffer = stackalloc byte[size];
        using var c = DescriptorLease.Of(context);

        // The kernel keeps at most 8 messages per context; the bound only guards against a kernel that never says ENODATA.
        for (int i = 0; i < 64; i++)
        {
            long n = Interop.Syscall(SyscallNumbers.Read, out int errno, c.Fd, (nint)buffer, size);
            if (n <= 0)
            {
                break;
            }

            messages.Add(FsContextMessage.Parse(Encoding.UTF8.GetString(buffer, (int)n)));
        }

        return messages;
    }
}
