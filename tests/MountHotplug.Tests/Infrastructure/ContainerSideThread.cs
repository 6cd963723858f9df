using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// A thread of the test process that acts like a process of a container: it enters the container's mount namespace
/// (unshare(CLONE_FS), then setns with the container's pidfd, the way the module's worker does) and runs a loop of raw
/// system calls there until it is stopped. A busybox loop in the container pays a fork and exec per step (milliseconds
/// here); this thread makes the same changes in microseconds, so it can hit the few microseconds between a lookup and
/// the system call that uses its result. It runs only the precompiled <see cref="Body"/> and system calls through the
/// Native assembly's bound entry point (kernel-notes N7), and ends before the test's final checks.
/// </summary>
public abstract class ContainerSideThread : IDisposable
{
    private readonly Thread _thread;
    private readonly SafePidfdHandle _pidfd;
    private readonly ManualResetEventSlim _entered = new();
    private volatile bool _stop;
    private int _enterErrno = -1;
    private bool _released;

    protected ContainerSideThread(int pid)
    {
        _pidfd = MountSyscalls.PidfdOpen(pid);
        Interop.EnsureBound();
        RuntimeHelpers.PrepareMethod(GetType().GetMethod(nameof(Body), System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.MethodHandle);
        RuntimeHelpers.PrepareMethod(typeof(ContainerSideThread).GetMethod(nameof(ThreadMain), System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.MethodHandle);
        _thread = new Thread(ThreadMain, 256 * 1024) { IsBackground = true, Name = "container-side test thread" };
    }

    /// <summary>The thread's kernel thread id, once it runs.</summary>
    public int NativeThreadId { get; private set; }

    protected bool StopRequested => _stop;

    /// <summary>Starts the thread and waits until it is inside the container's mount namespace.</summary>
    public void Start()
    {
        _thread.Start();
        _entered.Wait();
        if (_enterErrno != 0)
        {
            _thread.Join();
            throw new InvalidOperationException($"the container-side thread could not enter the namespace: errno {_enterErrno}");
        }
    }

    /// <summary>Asks the loop to end, waits for the thread to finish, and releases what the loop used.</summary>
    public void Stop()
    {
        _stop = true;
        if (_thread.ThreadState != ThreadState.Unstarted)
        {
            _thread.Join();
        }

        if (!_released)
        {
            _released = true;
            Release();
            _pidfd.Dispose();
            _entered.Dispose();
        }
    }

    public void Dispose()
    {
        Stop();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees what <see cref="Body"/> used; runs once, after the thread has ended.</summary>
    protected virtual void Release()
    {
    }

    /// <summary>Runs inside the container's mount namespace until <see cref="StopRequested"/>: system calls only.</summary>
    protected abstract void Body();

    private void ThreadMain()
    {
        NativeThreadId = (int)Interop.Syscall(SyscallNumbers.GetTid, out _);
        int errno = NamespaceCalls.TryUnshare(NamespaceCalls.CloneFs);
        if (errno == 0)
        {
            bool added = false;
            _pidfd.DangerousAddRef(ref added);
            errno = NamespaceCalls.TrySetNs((int)_pidfd.DangerousGetHandle(), NamespaceCalls.CloneNewNs);
            _pidfd.DangerousRelease();
        }

        _enterErrno = errno;
        _entered.Set();
        if (errno == 0)
        {
            Body();
        }
    }
}

/// <summary>System calls the container-side threads use, by number (x86_64 and arm64), through the Native entry point.</summary>
internal static unsafe class FsCalls
{
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static readonly long RenameAt2 = IsArm64 ? 276 : 316;
    private static readonly long SymlinkAt = IsArm64 ? 36 : 266;

    internal const int RenameExchange = 2;
    internal const int AtRemoveDir = 0x200;

    internal static int Exchange(int dir, byte* a, byte* b) =>
        Interop.Syscall(RenameAt2, out int errno, dir, (nint)a, dir, (nint)b, RenameExchange) == 0 ? 0 : errno;

    internal static int Symlink(byte* target, int dir, byte* name) =>
        Interop.Syscall(SymlinkAt, out int errno, (nint)target, dir, (nint)name) == 0 ? 0 : errno;

    internal static int Mkdir(int dir, byte* name) =>
        Interop.Syscall(SyscallNumbers.MkdirAt, out int errno, dir, (nint)name, 0x1ED) == 0 ? 0 : errno;

    internal static int Unlink(int dir, byte* name, int flags) =>
        Interop.Syscall(SyscallNumbers.UnlinkAt, out int errno, dir, (nint)name, flags) == 0 ? 0 : errno;

    /// <summary>NUL-terminated UTF-8 in unmanaged memory: nothing to pin or allocate on the container-side thread.</summary>
    internal static byte* Native(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text + "\0");
        byte* memory = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(memory, bytes.Length));
        return memory;
    }
}
