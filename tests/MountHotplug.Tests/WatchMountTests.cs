using System.Management.Automation;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests;

/// <summary>
/// Watch-Mount against a sandbox container whose own busybox mounts, moves and unmounts: the events arrive once each, in
/// order, with the container's mount points; a burst loses nothing silently; Ctrl+C and the container's death end the
/// watch with its descriptor closed (HostGuard counts descriptors and threads).
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class WatchMountTests(ITestOutputHelper output)
{
    private const string Watch = "MountHotplug.WatchMountCommand";

    [SkippableFact]
    public void MountsMadeMovedAndRemovedInsideArriveOnceEachInOrder()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        using var shell = new ContainerShell(container);
        shell.RunOrThrow("mkdir -p /mnt/w1 /mnt/w2 /mnt/other");

        using (var watch = Watcher.Start(ps, container, "Watch-Mount -Namespace $ct -Path '/mnt/w*' -Count 3 -Timeout 120"))
        {
            // One step at a time, each once the one before was seen: the events then also show where each mount was.
            shell.RunOrThrow("mount -t tmpfs watched /mnt/w1 && mount -t tmpfs other /mnt/other");
            watch.WaitFor(1);
            shell.RunOrThrow("mount --move /mnt/w1 /mnt/w2");
            watch.WaitFor(2);
            shell.RunOrThrow("umount /mnt/w2");
            PipelineResultLike result = watch.End();

            Assert.Empty(result.Errors);
            Assert.Equal(new[] { "Attached /mnt/w1 tmpfs watched", "Moved /mnt/w2 tmpfs watched", "Detached /mnt/w2 tmpfs watched" },
                result.Events.Select(e => $"{e.Kind} {e.MountPoint} {e.FileSystemType} {e.Source}"));
            Assert.Single(result.Events.Select(e => e.MountId).Distinct());
            Assert.All(result.Events, e => Assert.Equal(container.Pid, e.NamespaceProcessId));
        }

        shell.RunOrThrow("umount /mnt/other");
    }

    /// <summary>
    /// 100 mounts one after another, each once the one before arrived: every event comes, and the time from just before
    /// the container's shell is told to mount to the event object in the pipeline is printed (median and worst): an upper
    /// bound of the latency, which includes the shell's round trip.
    /// </summary>
    [SkippableFact]
    public void EachOfAHundredMountsArrivesAndItsLatencyIsPrinted()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        using var shell = new ContainerShell(container);
        shell.RunOrThrow("mkdir -p /mnt/lat && cd /mnt/lat && i=0; while [ $i -lt 100 ]; do mkdir $i; i=$((i+1)); done");
        var latencies = new List<double>();
        using (var watch = Watcher.Start(ps, container, "Watch-Mount -Namespace $ct -Path '/mnt/lat/*' -Count 100 -Timeout 300"))
        {
            for (int i = 0; i < 100; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                shell.RunOrThrow($"mount -t tmpfs l{i} /mnt/lat/{i}");
                watch.WaitFor(i + 1);
                latencies.Add(clock.Elapsed.TotalMilliseconds);
            }

            PipelineResultLike result = watch.End();
            Assert.Empty(result.Errors);
            Assert.Equal(Enumerable.Range(0, 100).Select(i => $"/mnt/lat/{i}"), result.Events.Select(e => e.MountPoint));
        }

        latencies.Sort();
        output.WriteLine($"mount in the container -> event in the pipeline, 100 mounts: median {latencies[50]:0.0} ms, worst {latencies[^1]:0.0} ms");
    }

    [SkippableFact]
    public void ABurstOfAThousandMountsLosesNothingSilently()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        using var shell = new ContainerShell(container);
        shell.RunOrThrow("mkdir -p /mnt/burst && cd /mnt/burst && i=0; while [ $i -lt 1000 ]; do mkdir $i; i=$((i+1)); done");

        using (var watch = Watcher.Start(ps, container, "Watch-Mount -Namespace $ct -Path '/mnt/burst/*' -Count 1000 -Timeout 300"))
        {
            shell.RunOrThrow("cd /mnt/burst && i=0; while [ $i -lt 1000 ]; do mount -t tmpfs b$i $i || exit 1; i=$((i+1)); done");
            PipelineResultLike result = watch.End();
            output.WriteLine($"{result.Events.Count} events, errors: {string.Join(", ", result.Errors.Select(e => e.FullyQualifiedErrorId))}");

            // All of them, each once at its own mount point, or the loss reported: never fewer without a word.
            if (result.Errors.Count == 0)
            {
                Assert.Equal(1000, result.Events.Select(e => e.MountId).Distinct().Count());
                Assert.Equal(Enumerable.Range(0, 1000).Select(i => $"/mnt/burst/{i}").Order(StringComparer.Ordinal),
                    result.Events.Select(e => e.MountPoint!).Order(StringComparer.Ordinal));
                Assert.All(result.Events, e => Assert.Equal(MountEventKind.Attached, e.GetKind()));
            }
            else
            {
                Assert.All(result.Errors, e => Assert.Equal($"MountEventsLost,{Watch}", e.FullyQualifiedErrorId));
            }
        }
    }

    [SkippableFact]
    public void CtrlCAndTheContainersDeathEndTheWatchCleanly()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);

        // Ctrl+C: the pipeline stops within a wait slice, the group's descriptor is closed.
        using (var watch = Watcher.Start(ps, container, "Watch-Mount -Namespace $ct"))
        {
            watch.Stop();
        }

        Assert.Empty(FanotifyMarks());

        // A container dies mid-watch: ContainerExited ends it. Started after the scenario's snapshot, so that its launcher's
        // pipes, closed when it stops, are not counted as missing.
        using (var doomed = SandboxContainer.Start())
        using (var watch = Watcher.Start(ps, doomed, "Watch-Mount -Namespace $ct -Timeout 300"))
        {
            doomed.Stop();
            PipelineResultLike result = watch.End();
            Assert.Equal(new[] { $"ContainerExited,{Watch}" }, result.Errors.Select(e => e.FullyQualifiedErrorId));
        }

        Assert.Empty(FanotifyMarks());
    }

    /// <summary>The fanotify mount-namespace marks this process holds (from /proc/self/fdinfo).</summary>
    private static List<string> FanotifyMarks()
    {
        var marks = new List<string>();
        foreach (string info in Directory.GetFiles("/proc/self/fdinfo"))
        {
            try
            {
                marks.AddRange(File.ReadAllLines(info).Where(l => l.StartsWith("fanotify mnt_ns:", StringComparison.Ordinal)));
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }

        return marks;
    }

    private sealed record PipelineResultLike(IReadOnlyList<MountEvent> Events, IReadOnlyList<ErrorRecord> Errors);

    /// <summary>A Watch-Mount pipeline running on the session's runspace, its events collected as they come.</summary>
    private sealed class Watcher : IDisposable
    {
        private readonly PowerShell _pipeline;
        private readonly PSDataCollection<PSObject> _events = new();
        private readonly IAsyncResult _running;
        private bool _ended;

        private Watcher(PowerShellSession ps, SandboxContainer container, string watch)
        {
            int before = FanotifyMarks().Count;
            _pipeline = PowerShell.Create();
            _pipeline.Runspace = ps.Runspace;
            ps.Runspace.SessionStateProxy.SetVariable("ctPid", container.Pid);
            _pipeline.AddScript($"$ct = Get-ContainerNamespace $ctPid; try {{ {watch} }} finally {{ $ct.Dispose() }}");
            _running = _pipeline.BeginInvoke<PSObject, PSObject>(null, _events);

            // The mark is the moment from which nothing is missed: wait for it before the container acts.
            if (!Poll.Until(() => FanotifyMarks().Count > before || _running.IsCompleted, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(10)))
            {
                throw new InvalidOperationException("Watch-Mount did not mark the namespace within 60 s");
            }
        }

        internal static Watcher Start(PowerShellSession ps, SandboxContainer container, string watch) => new(ps, container, watch);

        internal void WaitFor(int events) =>
            Assert.True(Poll.Until(() => _events.Count >= events || _running.IsCompleted, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(5)),
                $"only {_events.Count} of {events} events arrived");

        internal PipelineResultLike End()
        {
            _ended = true;
            _pipeline.EndInvoke(_running);
            return new PipelineResultLike(_events.Select(o => (MountEvent)o.BaseObject).ToList(), _pipeline.Streams.Error.ToList());
        }

        internal void Stop()
        {
            _ended = true;
            _pipeline.Stop();
            Assert.Equal(PSInvocationState.Stopped, _pipeline.InvocationStateInfo.State);
        }

        public void Dispose()
        {
            if (!_ended)
            {
                _pipeline.Stop();
            }

            _pipeline.Dispose();
            _events.Dispose();
        }
    }
}
