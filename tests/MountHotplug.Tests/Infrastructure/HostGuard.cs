using MountHotplug.Sandbox;
using Xunit;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// Snapshots what a hot-plug must never change — the host's and this process's mount tables, the mount namespace of
/// every thread, the number of open descriptors — and asserts they are the same at the end of a test.
/// </summary>
public sealed class HostGuard
{
    // The runtime opens a pipe pair for child-process signals the first time a process is started, and keeps it: start
    // one before any snapshot, so that the test that happens to run first does not see it as a leak. SandboxContainer's
    // static constructor registers signal handlers, with which the runtime opens its signal pipe for good: run it too. The
    // console streams are duplicates of descriptors 1 and 2, made the first time a test writes to the console, and kept.
    static HostGuard()
    {
        ChildProcess.Run(["/bin/true"]);
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(MountHotplug.Sandbox.SandboxContainer).TypeHandle);
        Console.Out.Flush();
        Console.Error.Flush();
    }

    private readonly string _hostTable = ProcessState.HostMountTable;
    private readonly string _ownTable = ProcessState.OwnMountTable;
    private readonly List<string> _descriptors = IdleDescriptors();

    // A session keeps its namespace thread and the container's root open between calls; both are released when the
    // module is idle (ContainerSession.EndIdleWorkers), so both snapshots are taken in that state.
    // Objects an earlier test dropped (a ContainerNamespace nobody disposed) close their descriptors when finalized: finalize
    // them before looking, so that a finalizer running mid-test does not count as a change.
    private static List<string> IdleDescriptors()
    {
        ContainerSession.EndIdleWorkers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return ProcessState.OpenDescriptors();
    }

    public void AssertClean()
    {
        Assert.Equal(_hostTable, ProcessState.HostMountTable);
        Assert.Equal(_ownTable, ProcessState.OwnMountTable);
        Assert.Empty(ProcessState.StrayThreads());

        // Pipe and socket inode numbers change as the engine recycles them; what must not grow is their number. Other
        // threads (a child process's stream readers, the engine's pipeline threads, finalizers) close their descriptors
        // on their own schedule, so a difference counts only if it lasts: a leaked descriptor stays open for good.
        List<string> expected = Kinds(_descriptors);
        List<string> now = [];
        Poll.Until(() => (now = Kinds(IdleDescriptors())).SequenceEqual(expected), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(20));
        Assert.Equal(expected, now);
    }

    /// <summary>The descriptor targets with pipe and socket inode numbers dropped (the engine recycles those), sorted.</summary>
    internal static List<string> Kinds(List<string> targets) =>
        targets.Select(t => t.StartsWith("pipe:", StringComparison.Ordinal) || t.StartsWith("socket:", StringComparison.Ordinal) ? t.Split(':')[0] : t)
            .OrderBy(t => t, StringComparer.Ordinal)
            .ToList();
}
