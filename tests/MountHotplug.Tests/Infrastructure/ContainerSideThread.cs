using System.Runtime.CompilerServices;

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
