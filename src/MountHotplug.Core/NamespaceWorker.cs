using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace MountHotplug;

/// <summary>
/// A dedicated OS thread that lives inside another process's mount namespace and runs the mount system calls that the kernel
/// accepts only from inside it (move_mount onto a path there, umount2, mount_setattr and open_tree of its mounts).
/// <para>
/// Why a thread of its own: setns(CLONE_NEWNS) is refused in a multithreaded process unless the thread first
/// unshares its fs_struct (kernel-notes N6), and setns with several flags from a thread that did not would move every
/// thread of the process (kernel-notes N6). So this thread calls unshare(CLONE_FS), then setns(pidfd, CLONE_NEWNS) with
/// that one flag, and is never returned to a pool: Dispose ends it.
/// </para>
/// <para>
/// Why so little runs on it: once inside, paths resolve in the container's filesystem, so a library or assembly
/// loaded there would be read from the container — a hostile root could plant it (kernel-notes N7). Everything the thread
/// executes is compiled and bound before it enters, it only passes descriptors opened by the caller to system
/// calls, and it returns errno values; exceptions and messages are made on the calling thread.
/// </para>
/// </summary>
internal sealed class NamespaceWorker : IDisposable
{
    private enum Operation { None, MoveMount, Unmount, MountSetAttr, CloneTree, StatMount, Exit }

    private static readonly object PrepareGate = new();
    private static bool _prepared;

    private readonly object _gate = new();
    private readonly object _callGate = new();
    private readonly Thread? _thread;
    private readonly int _pidfd;

    // A hot-plug pipeline hands the worker one request per mount and waits for the answer. Each side spins before it
    // blocks (SpinThenWait): on the project's 2-vCPU VM a futex wake-up costs about 20 µs each way, against 3-4 µs
    // for a spinning handoff.
    private readonly ManualResetEventSlim _requestReady = new(false, 0);
    private readonly ManualResetEventSlim _resultReady = new(false, 0);
    private static readonly long SpinBudget = Stopwatch.Frequency / 1000; // 1 ms, then block

    // Written by the caller before _requestReady.Set() and read by the worker after its Wait() (and the result the
    // other way round): the events' memory barriers order them.
    private Operation _operation;
    private int _argument1;
    private int _argument2;
    private uint _flags;
    private nint _pointerArgument2;
    private int _result;

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

    private NamespaceWorker()
    {
        _pidfd = -1;
        _entered = true;
    }

    /// <summary>The kernel thread id of the worker (for tests that look at /proc/self/task/TID/ns/mnt); 0 when it runs inline.</summary>
    public int NativeThreadId => _nativeThreadId;

    /// <summary>
    /// Whether the operations run on the calling thread: the namespace is the caller's own, so there is nothing to enter
    /// (<see cref="ForCallerNamespace"/>).
    /// </summary>
    public bool IsInline => _thread is null;

    /// <summary>
    /// The same operations for the caller's own mount namespace: no thread, no setns; each call runs on the calling thread.
    /// Lets code that works on "a namespace" treat the caller's like any other.
    /// </summary>
    public static NamespaceWorker ForCallerNamespace() => new();

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
        worker._thread!.Start();
        lock (worker._gate)
        {
            while (!worker._enterFinished)
            {
                Monitor.Wait(worker._gate);
            }
        }

        if (!worker._entered)
        {
            worker._thread!.Join();
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

    /// <summary>
    /// Lazily detaches the mount whose root <paramref name="mountRoot"/> refers to (a directory mount): fchdir onto it,
    /// umount2(".", MNT_DETACH), then fchdir to <paramref name="returnTo"/> (if given) so that the thread's working
    /// directory does not keep the detached mount alive. umount2 names the topmost mount at that directory, so a mount
    /// stacked on its root since would go instead (kernel-notes N18). 0 or errno.
    /// </summary>
    public int TryDetachDirectoryMount(SafeHandle mountRoot, SafeHandle? returnTo = null) =>
        TryUnmountAt(mountRoot, ".", UnmountFlags.Detach, returnTo);

    /// <summary>
    /// Lazily detaches the directory mount whose root <paramref name="mountRoot"/> refers to, with whatever has been stacked
    /// on that root since (by the container, say). umount2 names the mount on top at that root, not the one the descriptor
    /// refers to (kernel-notes N18), so the stack is taken off one mount at a time, as umount2(MNT_DETACH) of the mount
    /// itself would take it along, until ".." of the mount's root no longer leads out of it: a detached mount is its own
    /// parent. Returns 0 or the errno of umount2 or statx; <paramref name="covering"/> counts the mounts that were on top
    /// and detached first; <paramref name="detached"/> says whether the mount itself is out of the tree (false after
    /// <see cref="MaxCoveringMounts"/> mounts on top, a container that keeps stacking).
    /// </summary>
    public int TryDetachDirectoryMountAndCovering(SafeHandle mountRoot, SafeHandle? returnTo, out int covering, out bool detached)
    {
        covering = 0;
        detached = false;

        // The old mount ids (5.8) are enough to compare two mounts at one moment, and every kernel fills them. The
        // descriptor's own mount does not change, so it is read once.
        int errno = MountSyscalls.TryStatxAt(mountRoot, ".", uniqueMountId: false, out StatxInfo self);
        if (errno != 0)
        {
            return errno;
        }

        for (int attempt = 0; attempt <= MaxCoveringMounts; attempt++)
        {
            errno = TryDetachDirectoryMount(mountRoot, returnTo);
            if (errno != 0)
            {
                return errno;
            }

            errno = MountSyscalls.TryStatxAt(mountRoot, "..", uniqueMountId: false, out StatxInfo parent);
            if (errno != 0)
            {
                return errno;
            }

            if (parent.MountId == self.MountId)
            {
                detached = true;
                return 0;
            }

            covering++;
        }

        return 0;
    }

    /// <summary>How many mounts stacked on a mount <see cref="TryDetachDirectoryMountAndCovering"/> takes off before it gives up.</summary>
    public const int MaxCoveringMounts = 32;

    /// <summary>Lazily detaches the top mount at the single name <paramref name="leafName"/> in <paramref name="parent"/>; 0 or errno.</summary>
    public int TryDetachByName(SafeHandle parent, string leafName, SafeHandle? returnTo = null) =>
        TryUnmountAt(parent, leafName, UnmountFlags.Detach, returnTo);

    /// <summary>
    /// umount2(<paramref name="name"/>, <paramref name="flags"/> | UMOUNT_NOFOLLOW) with the thread's working directory
    /// at <paramref name="directory"/>: <paramref name="name"/> is ONE name in that directory (or "."), so no path from
    /// the container is looked up. Afterwards the thread changes to <paramref name="returnTo"/>, if given, so that its
    /// working directory pins nothing a later unmount needs. 0 or errno.
    /// </summary>
    public unsafe int TryUnmountAt(SafeHandle directory, string name, UnmountFlags flags, SafeHandle? returnTo = null)
    {
        if (name != "." && (name.Length == 0 || name.Contains('/') || name == ".."))
        {
            throw new ArgumentException($"'{name}' is not a single name in a directory.", nameof(name));
        }

        byte[] native = NativePath.ToNullTerminated(name);
        using var d = DescriptorLease.Of(directory);
        if (IsInline)
        {
            // fchdir would move the working directory of every thread of this process: name the target through /proc instead.
            // The magic link must not be the last component, which UMOUNT_NOFOLLOW refuses to follow (EINVAL): "." is
            // named with a trailing slash, a name as the component after it (kernel-notes N18).
            return MountSyscalls.TryUnmount(name == "." ? $"/proc/self/fd/{d.Fd}/" : $"/proc/self/fd/{d.Fd}/{name}", flags | UnmountFlags.NoFollow);
        }

        using var r = returnTo is null ? default : DescriptorLease.Of(returnTo);
        fixed (byte* n = native)
        {
            return Run(Operation.Unmount, d.Fd, returnTo is null ? -1 : r.Fd, (uint)(flags | UnmountFlags.NoFollow), (nint)n);
        }
    }

    /// <summary>mount_setattr(2) on an attached mount of the namespace (the kernel refuses it from outside: EINVAL); 0 or errno.</summary>
    public unsafe int TryMountSetAttr(SafeHandle mount, MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive)
    {
        var attr = new MountSyscalls.MountAttr(set, clear, propagation);
        using var m = DescriptorLease.Of(mount);
        return Run(Operation.MountSetAttr, m.Fd, recursive ? 1 : 0, 0, (nint)(&attr));
    }

    /// <summary>
    /// open_tree(OPEN_TREE_CLONE) of the mount <paramref name="at"/> refers to (with its subtree when <paramref name="recursive"/>):
    /// a detached copy. The kernel clones attached mounts only for a caller inside their namespace. Null with errno on failure.
    /// </summary>
    public SafeMountHandle? TryCloneMount(SafeHandle at, bool recursive, out int errno)
    {
        using var a = DescriptorLease.Of(at);
        int result = Run(Operation.CloneTree, a.Fd, 0, (uint)(OpenTreeFlags.Clone | (recursive ? OpenTreeFlags.Recursive : OpenTreeFlags.None)));
        errno = result < 0 ? -result : 0;
        return result >= 0 ? new SafeMountHandle(result) : null;
    }

    /// <summary>
    /// statmount(STATMOUNT_PROPAGATE_FROM) of a mount of the namespace, asked from inside it: the kernel works the value out
    /// relative to the caller's root, which from outside is not in that namespace. 0 or errno.
    /// </summary>
    public unsafe int TryStatMountPropagateFrom(ulong mountId, out ulong propagateFrom)
    {
        byte* buffer = stackalloc byte[MountSyscalls.StatMountFixedSize];
        var request = new MountSyscalls.MountIdRequest(mountId, (ulong)StatMountMask.PropagateFrom, namespaceId: 0);
        int errno = Run(Operation.StatMount, MountSyscalls.StatMountFixedSize, 0, 0, (nint)(&request), (nint)buffer);
        propagateFrom = errno == 0 && (*(ulong*)(buffer + StatMountLayout.Mask) & (ulong)StatMountMask.PropagateFrom) != 0
            ? *(ulong*)(buffer + StatMountLayout.PropagateFrom)
            : 0;
        return errno;
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
            if (IsInline)
            {
                return;
            }

            Post(Operation.Exit, 0, 0, 0, 0, 0);
        }

        _thread!.Join();
        _requestReady.Dispose();
        _resultReady.Dispose();
    }

    private nint _pointerArgument;

    private int Run(Operation operation, int a1, int a2, uint flags, nint pointer = 0, nint pointer2 = 0)
    {
        lock (_callGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return IsInline ? Execute(operation, a1, a2, flags, pointer, pointer2) : Post(operation, a1, a2, flags, pointer, pointer2);
        }
    }

    private int Post(Operation operation, int a1, int a2, uint flags, nint pointer, nint pointer2)
    {
        _operation = operation;
        _argument1 = a1;
        _argument2 = a2;
        _flags = flags;
        _pointerArgument = pointer;
        _pointerArgument2 = pointer2;
        _resultReady.Reset();
        _requestReady.Set();
        SpinThenWait(_resultReady);
        return _result;
    }

    // Yields on every round rather than only now and then (ManualResetEventSlim's own spin) or never: measured, caller and
    // worker often share a vCPU, and the one that waits must let the other run. 3-4 µs less per handoff than the event's
    // spin, and a thread that waits for a ms blocks like any other.
    private static void SpinThenWait(ManualResetEventSlim ready)
    {
        long start = Stopwatch.GetTimestamp();
        while (!ready.IsSet)
        {
            if (Stopwatch.GetTimestamp() - start > SpinBudget)
            {
                ready.Wait();
                return;
            }

            Thread.SpinWait(1);
            Thread.Yield();
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
            SpinThenWait(_requestReady);
            _requestReady.Reset();
            Operation operation = _operation;
            int result = Execute(operation, _argument1, _argument2, _flags, _pointerArgument, _pointerArgument2);
            _result = result;
            _resultReady.Set();
            if (operation == Operation.Exit)
            {
                return;
            }
        }
    }

    private static unsafe int Execute(Operation operation, int a1, int a2, uint flags, nint pointer, nint pointer2)
    {
        switch (operation)
        {
            case Operation.MoveMount:
                return MountSyscalls.TryMoveMount(a1, a2, (MoveMountFlags)flags);
            case Operation.Unmount:
            {
                int errno = NamespaceCalls.TryFchdir(a1);
                if (errno == 0)
                {
                    errno = NamespaceCalls.TryUnmount((byte*)pointer, (int)flags);
                }

                if (a2 >= 0)
                {
                    NamespaceCalls.TryFchdir(a2);
                }

                return errno;
            }

            case Operation.MountSetAttr:
                return MountSyscalls.TryMountSetAttr(a1, a2 != 0, (MountSyscalls.MountAttr*)pointer);
            case Operation.CloneTree:
                return MountSyscalls.TryOpenTreeAt(a1, (OpenTreeFlags)flags);
            case Operation.StatMount:
                return MountSyscalls.TryStatMount((MountSyscalls.MountIdRequest*)pointer, (byte*)pointer2, a1);
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
            foreach (Type type in new[] { typeof(NamespaceWorker), typeof(NamespaceCalls), typeof(Interop), typeof(MountSyscalls), typeof(MountSyscalls.MountAttr), typeof(MountSyscalls.MountIdRequest) })
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

            // SpinThenWait calls into the runtime's native parts (the clock lives in libSystem.Native): bind them here,
            // on the host, so that the first call from inside a container looks up nothing there.
            Stopwatch.GetTimestamp();
            Thread.SpinWait(1);
            Thread.Yield();
            _prepared = true;
        }
    }
}
