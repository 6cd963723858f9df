namespace MountHotplug.Tests.Infrastructure;

/// <summary>Observations of this test process and of the host that tests compare before and after.</summary>
public static class ProcessState
{
    /// <summary>The mount namespace of every thread of this process (tid → "mnt:[4026531841]").</summary>
    public static Dictionary<int, string> ThreadMountNamespaces()
    {
        var result = new Dictionary<int, string>();
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                string? ns = new FileInfo(Path.Combine(task, "ns", "mnt")).LinkTarget;
                if (ns is not null)
                {
                    result[int.Parse(Path.GetFileName(task))] = ns;
                }
            }
            catch (IOException)
            {
                // The thread ended while we looked.
            }
        }

        return result;
    }

    public static string ProcessMountNamespace => new FileInfo("/proc/self/ns/mnt").LinkTarget!;

    /// <summary>
    /// Threads whose mount namespace is not the process's. A namespace worker that has ended can take a moment to be
    /// reaped by the kernel (seconds, on a loaded machine), so a thread counts as stray only if it is still elsewhere
    /// after up to 5 s. The namespace threads that sessions keep for their ContainerNamespace between calls are ended first
    /// (ContainerSession.EndIdleWorkers): kept ones are by design (WorkerLifetimeTests covers when they end by themselves);
    /// a thread that is still elsewhere after that was left by something else.
    /// </summary>
    public static IReadOnlyList<string> StrayThreads()
    {
        ContainerSession.EndIdleWorkers();
        string mine = ProcessMountNamespace;
        List<string> stray = [];
        Poll.Until(() => (stray = ThreadMountNamespaces().Where(t => t.Value != mine).Select(t => $"tid {t.Key} in {t.Value}").ToList()).Count == 0,
            TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20));
        return stray;
    }

    /// <summary>
    /// What the open descriptors of this process refer to, sorted, after letting finalizers close what was dropped.
    /// Assembly, native library and symbol files are left out: the runtime keeps each one it loads open for good (symbols
    /// when a stack trace is first formatted with line numbers), and a test that makes the engine load one more (an error
    /// message's formatting, say) has leaked nothing.
    /// </summary>
    public static List<string> OpenDescriptors()
    {
        // Dropped SafeHandles close in finalizers; wait for those the second collection queues too. A descriptor that a
        // finalizer closed while the list below was read used to be counted as "?" and failed a guard now and then.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var targets = new List<string>();
        foreach (string fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }

            if (target is null)
            {
                continue; // gone between the listing and the read (LinkTarget is null for a missing path): the listing's own
                          // descriptor, or one another thread closed meanwhile; a live /proc/self/fd entry always reads
            }

            if (!target.EndsWith(".dll", StringComparison.Ordinal) && !target.EndsWith(".pdb", StringComparison.Ordinal)
                && !target.Contains(".so", StringComparison.Ordinal))
            {
                targets.Add(target);
            }
        }

        targets.Sort(StringComparer.Ordinal);
        return targets;
    }

    public static string HostMountTable => File.ReadAllText("/proc/1/mountinfo");

    public static string OwnMountTable => File.ReadAllText("/proc/self/mountinfo");
}
