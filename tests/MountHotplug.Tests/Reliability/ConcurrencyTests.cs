using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// Eight runspaces of one process hot-plug into four containers at once for ten seconds. Every mount must land in its
/// own container, and no thread but a namespace worker may ever be seen outside the process's mount namespace or
/// with another root: the setns trap (kernel-notes N6) would show exactly here.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class ConcurrencyTests(ITestOutputHelper output)
{
    private const int Runspaces = 8;
    private const int Containers = 4;
    private const int Seconds = 10;

    [SkippableFact]
    public void EightRunspacesHotplugIntoFourContainersAndNoOtherThreadLeavesTheHost()
    {
        using var scenario = Scenario.Start(
            Enumerable.Range(0, Containers).Select(c => c % 2 == 0 ? SandboxKind.PivotRoot : SandboxKind.Chroot).ToList(), sessions: Runspaces);
        var (containers, sessions, tree) = (scenario.Containers, scenario.Sessions, scenario.Tree);
        ProveTheSamplerSeesAnIntruder(containers[0]);

        int[] attached = new int[Runspaces];
        int[] pipelines = new int[Runspaces];
        var errors = new List<string>[Runspaces];
        var stopwatch = Stopwatch.StartNew();
        using var sampler = new ThreadNamespaceSampler();
        var threads = Enumerable.Range(0, Runspaces).Select(r => new Thread(() =>
        {
            // Runspace r hot-plugs 1 to 3 mounts per pipeline into container r % 4, each at its own target.
            PipelineResult result = sessions[r].Run($$"""
                $ct = Get-ContainerNamespace $ctPid
                $deadline = [DateTime]::UtcNow.AddSeconds({{Seconds}})
                $attached = 0; $pipelines = 0
                while ([DateTime]::UtcNow -lt $deadline) {
                    $pipelines++
                    $attached += @(1..(1 + $pipelines % 3) | ForEach-Object { New-StagedMount $src } |
                        Move-MountIntoNamespace -Namespace $ct -Target /mnt/conc/r{{r}} -CreateTarget -Force -PassThru).Count
                }
                $ct.Dispose()
                $attached; $pipelines
                """, new Dictionary<string, object?> { ["ctPid"] = containers[r % Containers].Pid, ["src"] = tree.Data });
            errors[r] = result.Errors.Select(e => e.FullyQualifiedErrorId + ": " + (e.ErrorDetails?.Message ?? e.Exception.Message)).ToList();
            if (result.Output.Count == 2)
            {
                attached[r] = (int)result.Output[0].BaseObject;
                pipelines[r] = (int)result.Output[1].BaseObject;
            }
        }) { Name = $"runspace driver {r}" }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        sampler.Stop();
        stopwatch.Stop();

        Assert.All(errors, e => Assert.True(e.Count == 0, string.Join("\n", e.Take(5))));
        Assert.True(sampler.Violations.Count == 0, string.Join("\n", sampler.Violations));
        Assert.True(sampler.WorkersSeenInside > 0, "the sampler never saw a namespace worker inside a container");
        for (int c = 0; c < Containers; c++)
        {
            var table = ContainerView.NamespaceMounts(containers[c]);
            for (int r = 0; r < Runspaces; r++)
            {
                string target = ContainerView.NamespacePath(containers[c], $"/mnt/conc/r{r}");
                int expected = r % Containers == c ? attached[r] : 0;
                Assert.True(expected == table.Count(m => m.MountPoint == target), $"container {c}: {table.Count(m => m.MountPoint == target)} mounts at {target}, runspace {r} attached {attached[r]} there");
                Assert.Equal(r % Containers == c, Directory.Exists(containers[c].RootfsPath + $"/mnt/conc/r{r}"));
            }

            Assert.Equal(attached.Where((_, r) => r % Containers == c).Sum(), table.Count(m => m.MountPoint.Contains("/mnt/conc/", StringComparison.Ordinal)));
        }

        Assert.All(attached, a => Assert.True(a > 0));
        output.WriteLine($"{Runspaces} runspaces x {Containers} containers for {stopwatch.Elapsed.TotalSeconds:0.0} s: {pipelines.Sum()} pipelines, "
            + $"{attached.Sum()} mounts attached (per runspace {string.Join(", ", attached)}), {sampler.WorkersStarted} namespace threads; "
            + $"sampler: {sampler.Samples} passes over /proc/self/task, {sampler.ThreadsSeen} thread observations, "
            + $"{sampler.WorkersSeenInside} of a worker inside a container, 0 of any other thread outside the host's namespace or root");
    }

    /// <summary>The check cannot pass by being blind: a thread that enters a container without being a worker is reported.</summary>
    private static void ProveTheSamplerSeesAnIntruder(SandboxContainer container)
    {
        using var sampler = new ThreadNamespaceSampler();
        using var intruder = new IdleThreadInside(container.Pid);
        intruder.Start();
        Poll.Until(() => sampler.Violations.Any(v => v.StartsWith($"thread {intruder.NativeThreadId} ", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(1));

        intruder.Stop();
        sampler.Stop();
        Assert.Contains(sampler.Violations, v => v.StartsWith($"thread {intruder.NativeThreadId} ", StringComparison.Ordinal));
    }

    private sealed class IdleThreadInside(int pid) : ContainerSideThread(pid)
    {
        protected override void Body()
        {
            while (!StopRequested)
            {
                Thread.Yield();
            }
        }
    }
}
