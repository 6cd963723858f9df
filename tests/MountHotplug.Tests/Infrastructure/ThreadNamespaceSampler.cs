using System.Collections.Concurrent;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// Watches every thread of this process while a test runs: each must stay in the process's mount namespace and keep
/// the process's root directory, except the module's namespace workers, which belong inside a container while they
/// live. Workers are known by their kernel thread id, which NamespaceWorker.ThreadEntering reports before the worker
/// leaves. A thread that entered a namespace without unshare(CLONE_FS) (kernel-notes N6) shows up here:
/// itself in the container's namespace, every other thread with the container's root.
/// </summary>
public sealed class ThreadNamespaceSampler : IDisposable
{
    private readonly ConcurrentDictionary<int, byte> _workers = new();
    private readonly List<string> _violations = new();
    private readonly Thread _thread;
    private readonly string _ownNamespace = ProcessState.ProcessMountNamespace;
    private readonly (ulong Inode, uint Major, uint Minor) _ownRoot = RootOf("/proc/self/root");
    private readonly Action<int> _register;
    private volatile bool _stop;

    public ThreadNamespaceSampler()
    {
        _register = tid => _workers[tid] = 0;
        if (NamespaceWorker.ThreadEntering is not null)
        {
            throw new InvalidOperationException("another sampler is running");
        }

        NamespaceWorker.ThreadEntering = _register;
        _thread = new Thread(Sample) { IsBackground = true, Name = "thread namespace sampler" };
        _thread.Start();
    }

    /// <summary>Full passes over /proc/self/task.</summary>
    public long Samples { get; private set; }

    /// <summary>Thread observations in all passes.</summary>
    public long ThreadsSeen { get; private set; }

    /// <summary>Times a worker was seen inside another mount namespace (proof that the sampler can see one).</summary>
    public long WorkersSeenInside { get; private set; }

    /// <summary>Distinct workers that announced themselves.</summary>
    public int WorkersStarted { get; private set; }

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_violations)
            {
                return _violations.ToList();
            }
        }
    }

    /// <summary>Stops sampling; returns once the last pass has ended.</summary>
    public void Stop()
    {
        _stop = true;
        _thread.Join();
        if (ReferenceEquals(NamespaceWorker.ThreadEntering, _register))
        {
            NamespaceWorker.ThreadEntering = null;
        }
    }

    public void Dispose() => Stop();

    private void Sample()
    {
        var announced = new HashSet<int>();
        while (!_stop)
        {
            // Workers announced before the listing that have ended since may have their ids reused by any thread
            // from now on. One announced after the listing is kept for the next pass.
            var known = _workers.Keys.ToHashSet();
            announced.UnionWith(known);
            WorkersStarted = announced.Count;
            var listed = new HashSet<int>();
            foreach (string task in Directory.GetDirectories("/proc/self/task"))
            {
                int tid = int.Parse(Path.GetFileName(task));
                listed.Add(tid);
                string? ns;
                try
                {
                    ns = new FileInfo(task + "/ns/mnt").LinkTarget;
                }
                catch (IOException)
                {
                    continue; // ended while we looked
                }

                if (ns is null)
                {
                    continue;
                }

                ThreadsSeen++;
                bool isWorker = _workers.ContainsKey(tid); // after the observation, for the same reason as below
                if (ns != _ownNamespace)
                {
                    if (isWorker)
                    {
                        WorkersSeenInside++;
                    }
                    else
                    {
                        Report($"thread {tid} ({Name(task)}) is in {ns}, not in {_ownNamespace}");
                    }

                    continue;
                }

                if (!isWorker)
                {
                    // Observed first, asked second: a worker announces itself before it changes anything, so a thread
                    // that has changed and is not announced afterwards was never a worker.
                    (ulong, uint, uint)? root = TryRootOf(task + "/root");
                    if (root is { } r && r != _ownRoot && !_workers.ContainsKey(tid))
                    {
                        Report($"thread {tid} ({Name(task)}) has another root directory (inode {r.Item1}) than the process (inode {_ownRoot.Inode})");
                    }
                }
            }

            // Reading /proc/self/task goes by position, so threads that end meanwhile can make it skip a live one:
            // only a lookup by name says a thread is gone.
            foreach (int tid in known.Where(t => !listed.Contains(t) && !Directory.Exists($"/proc/self/task/{t}")))
            {
                _workers.TryRemove(tid, out _);
            }

            Samples++;
            Thread.Yield();
        }
    }

    private void Report(string violation)
    {
        lock (_violations)
        {
            if (_violations.Count < 100)
            {
                _violations.Add(violation);
            }
        }
    }

    private static string Name(string task)
    {
        try
        {
            return File.ReadAllText(task + "/comm").Trim();
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static (ulong Inode, uint Major, uint Minor)? TryRootOf(string path)
    {
        try
        {
            return RootOf(path);
        }
        catch (SyscallException)
        {
            return null; // ended while we looked
        }
    }

    private static (ulong Inode, uint Major, uint Minor) RootOf(string path)
    {
        using SafePathHandle root = MountSyscalls.Open(path, OpenFlags.Path | OpenFlags.Directory);
        StatxInfo info = MountSyscalls.Statx(root, path);
        return (info.Inode, info.DeviceMajor, info.DeviceMinor);
    }
}
