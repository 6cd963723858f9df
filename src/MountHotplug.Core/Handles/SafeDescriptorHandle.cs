using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>A Linux file descriptor; closed exactly once, by whoever releases the last reference.</summary>
public abstract class SafeDescriptorHandle : SafeHandle
{
    protected SafeDescriptorHandle(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>The descriptor number, for diagnostics (and for -Verbose output). Do not close it yourself.</summary>
    public int DescriptorNumber => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Interop.Syscall(SyscallNumbers.Close, out _, handle) == 0;
}

/// <summary>A mount made by open_tree(OPEN_TREE_CLONE) or fsmount. Closing a still-detached one dissolves it.</summary>
public sealed class SafeMountHandle : SafeDescriptorHandle
{
    internal SafeMountHandle(int fd) : base(fd) { }
}

/// <summary>A pidfd: pins a process so that a reused PID is never mistaken for it.</summary>
public sealed class SafePidfdHandle : SafeDescriptorHandle
{
    internal SafePidfdHandle(int fd) : base(fd) { }
}

/// <summary>An O_PATH (or plain) descriptor of a file or directory.</summary>
public sealed class SafePathHandle : SafeDescriptorHandle
{
    internal SafePathHandle(int fd) : base(fd) { }
}

/// <summary>
/// Keeps a SafeHandle referenced while its raw descriptor is in use, so that a concurrent Dispose
/// cannot close (and the kernel cannot reuse) the number under a running system call.
/// </summary>
internal readonly struct DescriptorLease : IDisposable
{
    internal const int AtFdCwd = -100;

    private readonly SafeHandle? _handle;

    private DescriptorLease(SafeHandle? handle, int fd)
    {
        _handle = handle;
        Fd = fd;
    }

    public int Fd { get; }

    /// <summary>Leases <paramref name="handle"/>; null stands for AT_FDCWD.</summary>
    public static DescriptorLease Of(SafeHandle? handle)
    {
        if (handle is null)
        {
            return new DescriptorLease(null, AtFdCwd);
        }

        if (handle.IsClosed || handle.IsInvalid)
        {
            throw new ObjectDisposedException(handle.GetType().Name, "The descriptor has been closed.");
        }

        bool added = false;
        handle.DangerousAddRef(ref added);
        return new DescriptorLease(handle, (int)handle.DangerousGetHandle().ToInt64());
    }

    public void Dispose() => _handle?.DangerousRelease();
}

/// <summary>A namespace file descriptor (nsfs), e.g. /proc/PID/ns/mnt.</summary>
public sealed class SafeNamespaceHandle : SafeDescriptorHandle
{
    internal SafeNamespaceHandle(int fd) : base(fd) { }
}

/// <summary>A filesystem context made by fsopen(2): configured with fsconfig, turned into a mount by fsmount.</summary>
public sealed class SafeFsContextHandle : SafeDescriptorHandle
{
    internal SafeFsContextHandle(int fd) : base(fd) { }
}

/// <summary>A fanotify group (fanotify_init(2)); its marks go with it when it is closed.</summary>
public sealed class SafeFanotifyHandle : SafeDescriptorHandle
{
    internal SafeFanotifyHandle(int fd) : base(fd) { }
}
