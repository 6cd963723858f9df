namespace MountHotplug;

internal static partial class MountSyscalls
{
    /// <summary>openat(2) of a host path; returns the descriptor, or null with <paramref name="errno"/> set.</summary>
    public static unsafe SafePathHandle? TryOpen(string path, OpenFlags flags, out int errno)
    {
        byte[] native = NativePath.ToNullTerminated(path);
        fixed (byte* p = native)
        {
            long fd = Interop.Syscall(SyscallNumbers.OpenAt, out errno, DescriptorLease.AtFdCwd, (nint)p, (nint)OpenFlagValues.ForKernel(flags | OpenFlags.CloseOnExec), 0);
            return fd >= 0 ? new SafePathHandle((int)fd) : null;
        }
    }

    /// <summary>
    /// read(2) until end of file, at most <paramref name="limit"/> bytes; null when the file holds more. EINTR is retried;
    /// EAGAIN (a descriptor opened non-blocking with nothing to read yet) is a failure like any other.
    /// </summary>
    /// <exception cref="SyscallException">read failed.</exception>
    public static unsafe byte[]? ReadToEnd(SafeHandle file, int limit, string? name = null)
    {
        var content = new MemoryStream();
        const int size = 16384;
        byte* buffer = stackalloc byte[size];
        using var f = DescriptorLease.Of(file);
        while (true)
        {
            long n = Interop.Syscall(SyscallNumbers.Read, out int errno, f.Fd, (nint)buffer, size);
            if (n < 0 && errno == (int)Errno.EINTR)
            {
                continue;
            }

            if (n < 0)
            {
                throw SyscallException.Create("read", errno, name);
            }

            if (n == 0)
            {
                return content.ToArray();
            }

            if (content.Length + n > limit)
            {
                return null;
            }

            content.Write(new ReadOnlySpan<byte>(buffer, (int)n));
        }
    }
}
