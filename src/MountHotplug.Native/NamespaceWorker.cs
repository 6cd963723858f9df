using System.Reflection;
using System.Runtime.CompilerServices;

namespace MountHotplug.Native;

/// <summary>
/// A dedicated OS thread that lives inside another process's mount namespace and runs move_mount there.
/// <para>
/// Why a thread of its own: setns(CLONE_NEWNS) is refused in a multithreaded process unless the thread first
/// unshares its fs_struct (rule 4), and setns with several flags from a thread that did not would move every
/// thread of the process (rule 5). So this thread calls unshare(CLONE_FS), then setns(pidfd, CLONE_NEWNS) with
/// that one flag, and is never returned to a pool: Dispose ends it.
/// </para>
/// <para>
/// Why so little runs on it: once inside, paths resolve in the container's filesystem, so a library or assembly
/// loaded there would be read from the container — a hostile root could plant it (rule 13). Everything the thread
/// executes is compiled and bound before it enters, it only passes descriptors opened by the caller to system
/// calls, and it returns errno values; exceptions and messages are made on the calling thread.
/// </para>
/// </summary>
public sealed class NamespaceWorker : IDisposable
{
    private enum Operation { None, MoveMount, DetachDirectory, DetachName, Exit }

    private static readonly object PrepareGate = new();
    private static bool _prepared;

    private readonly object _gate = new();
    private readonly object _callGate = new();
    private readonly Thread _thread;
    private readonly int _pidfd;

    private Operation _operation;
    private int _argument1;
    private int _argument2;
    private uint _flags;
    private int _result;
    private bool _requestPending;
    private bool _resultReady;

    private bool _entered;
    private bool _enterFinished;
    private int _enterErrno;
    private bool _enterFailedAtSetns;
    private int _nativeThreadId;
    private bool _disposed;

    private NamespaceWorker(int pidfd)
    {
        _pidfd = pidfd;
        _thread = new Thread(ThreadMain, maxStackSize: 256 * 1024) { IsBackground = true, Name = "MountHotplug namespace worker" };
    }

    /// <summary>The kernel thread id of the worker (for tests that look at /proc/self/task/TID/ns/mnt).</summary>
    public int NativeThreadId => _nativeThreadId;

    /// <summary>
    /// Test hook: called on each worker thread with its kernel thread id before it leaves the host's namespace, so a
    /// test that watches /proc/self/task/*/ns/mnt can tell a worker (which belongs inside a container) from any other
    /// thread (which never does). Null, and so one load and test per worker, unless a test sets it.
    /// </summary>
    internal static Action<int>? ThreadEntering;

    /// <summary>Starts a worker inside the mount namespace of the process that <paramref name="pidfd"/> pins.</summary>
    /// <exception cref="SyscallException">unshare or setns failed (ESRCH: the process has exited).</exception>
    public static NamespaceWorker Enter(SafePidfdHandle pidfd, string? description = null)
    {
        PrepareCode();
        using var lease = DescriptorLease.Of(pidfd);
        var worker = new NamespaceWorker(lease.Fd);
        worker._thread.Start();
        lock (worker._gate)
        {
            while (!worker._enterFinished)
            {
                Monitor.Wait(worker._gate);
            }
        }

        if (!worker._entered)
        {
            worker._thread.Join();
            worker._disposed = true;
            throw SyscallException.Create(worker._enterFailedAtSetns ? "setns" : "unshare", worker._enterErrno, description,
                detail: worker._enterFailedAtSetns && worker._enterErrno == (int)Errno.EINVAL
                    ? "setns with a pidfd needs Linux 5.8 or later."
                    : null);
        }

        return worker;
    }

    /// <summary>move_mount(from, to, F_EMPTY_PATH|T_EMPTY_PATH|flags) inside the namespace; 0 or errno.</summary>
    public int TryMoveMount(SafeHandle from, SafeHandle to, MoveMountFlags flags)
    {
        using var f = DescriptorLease.Of(from);
        using var t = DescriptorLease.Of(to);
        return Run(Operation.MoveMount, f.Fd, t.Fd, (uint)flags);
    }

    /// <summary>Lazily detaches the mount whose root <paramref name="mountRoot"/> refers to (a directory mount); 0 or errno.</summary>
    public int TryDetachDirectoryMount(SafeHandle mountRoot)
    {
        using var m = DescriptorLease.Of(mountRoot);
        return Run(Operation.DetachDirectory, m.Fd, 0, 0);
    }

    /// <summary>Lazily detaches the top mount at the single name <paramref name="leafName"/> in <paramref name="parent"/>; 0 or errno.</summary>
    public unsafe int TryDetachByName(SafeHandle parent, string leafName)
    {
        byte[] name = NativePath.ToNullTerminated(leafName);
        using var p = DescriptorLease.Of(parent);
        fixed (byte* n = name)
        {
            return Run(Operation.DetachName, p.Fd, 0, 0, (nint)n);
        }
    }

    public void Dispose()
    {
        lock (_callGate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Post(Operation.Exit, 0, 0, 0, 0);
        }

        _thread.Join();
    }

    private nint _pointerArgument;

    private int Run(Operation operation, int a1, int a2, uint flags, nint pointer = 0)
    {
        lock (_callGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return Post(operation, a1, a2, flags, pointer);
        }
    }

    private int Post(Operation operation, int a1, int a2, uint flags, nint pointer)
    {
        lock (_gate)
        {
            _operation = operation;
            _argument1 = a1;
            _argument2 = a2;
            _flags = flags;
            _pointerArgument = pointer;
            _resultReady = false;
            _requestPending = true;
            Monitor.PulseAll(_gate);
            while (!_resultReady)
            {
                Monitor.Wait(_gate);
            }

            return _result;
        }
    }

    private void ThreadMain()
    {
        int tid = (int)Interop.Syscall(SyscallNumbers.GetTid, out _);
        ThreadEntering?.Invoke(tid);
        int errno = NamespaceCalls.TryUnshare(NamespaceCalls.CloneFs);
        bool atSetns = false;
        if (errno == 0)
        {
            atSetns = true;
            errno = NamespaceCalls.TrySetNs(_pidfd, NamespaceCalls.CloneNewNs);
        }

        lock (_gate)
        {
            _nativeThreadId = tid;
            _enterErrno = errno;
            _enterFailedAtSetns = atSetns;
            _entered = errno == 0;
            _enterFinished = true;
            Monitor.PulseAll(_gate);
        }

        if (errno == 0)
        {
            ServeRequests();
        }
    }

    private void ServeRequests()
    {
        while (true)
        {
            Operation operation;
            int a1, a2;
            uint flags;
            nint pointer;
            lock (_gate)
            {
                while (!_requestPending)
                {
                    Monitor.Wait(_gate);
                }

                operation = _operation;
                a1 = _argument1;
                a2 = _argument2;
                flags = _flags;
                pointer = _pointerArgument;
            }

            int result = Execute(operation, a1, a2, flags, pointer);
            lock (_gate)
            {
                _result = result;
                _requestPending = false;
                _resultReady = true;
                Monitor.PulseAll(_gate);
            }

            if (operation == Operation.Exit)
            {
                return;
            }
        }
    }

    private static unsafe int Execute(Operation operation, int a1, int a2, uint flags, nint pointer)
    {
        switch (operation)
        {
            case Operation.MoveMount:
                return MountSyscalls.TryMoveMount(a1, a2, (MoveMountFlags)flags);
            case Operation.DetachDirectory:
            {
                int errno = NamespaceCalls.TryFchdir(a1);
                return errno != 0 ? errno : NamespaceCalls.TryDetachCurrentDirectory();
            }

            case Operation.DetachName:
            {
                int errno = NamespaceCalls.TryFchdir(a1);
                return errno != 0 ? errno : NamespaceCalls.TryDetach((byte*)pointer);
            }

            default:
                return 0;
        }
    }

    /// <summary>
    /// Compiles every method the worker thread runs and binds the syscall entry point, on the calling (host)
    /// thread, so that nothing is loaded from disk after the worker has entered a container.
    /// </summary>
    private static void PrepareCode()
    {
        lock (PrepareGate)
        {
            if (_prepared)
            {
                return;
            }

            Interop.EnsureBound();
            const BindingFlags all = BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            foreach (Type type in new[] { typeof(NamespaceWorker), typeof(NamespaceCalls), typeof(Interop), typeof(MountSyscalls) })
            {
                foreach (MethodInfo method in type.GetMethods(all))
                {
                    if (!method.IsAbstract && !method.ContainsGenericParameters)
                    {
                        RuntimeHelpers.PrepareMethod(method.MethodHandle);
                    }
                }
            }

            RuntimeHelpers.RunClassConstructor(typeof(SyscallNumbers).TypeHandle);
            _prepared = true;
        }
    }
}
