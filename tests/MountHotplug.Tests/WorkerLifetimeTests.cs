using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// The namespace thread a session keeps between calls (ContainerSession): shared by every pipeline that uses one
/// ContainerNamespace, ended by Dispose, by the container's exit, and after an idle time — never left in a namespace.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class WorkerLifetimeTests
{
    private static bool ThreadExists(int tid) => Directory.Exists($"/proc/self/task/{tid}");

    [SkippableFact]
    public void OnePipelinePerMountInALoopEntersTheNamespaceOnce()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
foreach ($i in 1..5) {
    New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /loop/m$i -CreateTarget
    $ct.Session.WorkerThreadId
}", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        int[] threads = result.Output.Select(o => (int)o.BaseObject).ToArray();
        Assert.Equal(5, threads.Length);
        Assert.NotEqual(0, threads[0]);
        Assert.All(threads, t => Assert.Equal(threads[0], t));
        Assert.Equal(new FileInfo($"/proc/{container.Pid}/ns/mnt").LinkTarget, new FileInfo($"/proc/self/task/{threads[0]}/ns/mnt").LinkTarget);
        Assert.Equal(5, Enumerable.Range(1, 5).Count(i => ContainerView.MountAt(container, $"/loop/m{i}") is not null));

        ps.Run("$ct.Dispose()");
        Assert.False(ThreadExists(threads[0]), "Dispose ends the thread at once");
    }

    [SkippableFact]
    public void TheKeptThreadEndsWhenTheContainerExits()
    {
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        var tree = scenario.Tree;
        var container = SandboxContainer.Start(); // after the scenario's snapshot: the test stops it
        using (ContainerNamespace ns = ContainerNamespace.Open(container.Pid))
        {
            using (StagedMount staged = StagedMount.Clone(tree.Data, new CloneOptions { Attributes = MountAttributes.ReadOnly }))
            {
                ns.Session.Attach(staged, "/x", new AttachOptions { CreateTarget = true });
            }

            int tid = ns.Session.WorkerThreadId;
            Assert.True(ThreadExists(tid));

            container.Dispose();

            // A thread inside keeps a stopped container's mount namespace (and what is mounted there) alive: it must go by itself.
            Assert.True(Poll.Until(() => !ThreadExists(tid), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)),
                "the namespace thread outlived its container");
            Assert.Equal(0, ns.Session.WorkerThreadId);
        }
    }

    [SkippableFact]
    public void AnIdleThreadEndsByItselfAndTheNextCallEntersAgain()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        TimeSpan idle = ContainerSession.WorkerIdleTimeout;
        ContainerSession.WorkerIdleTimeout = TimeSpan.FromMilliseconds(300);
        try
        {
            using ContainerNamespace ns = ContainerNamespace.Open(container.Pid);
            using StagedMount first = StagedMount.Clone(tree.Data, new CloneOptions());
            ns.Session.Attach(first, "/a", new AttachOptions { CreateTarget = true });
            int tid = ns.Session.WorkerThreadId;

            Assert.True(Poll.Until(() => !ThreadExists(tid), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50)),
                "an idle namespace thread was kept past the idle time");

            using StagedMount second = StagedMount.Clone(tree.Data, new CloneOptions());
            ns.Session.Attach(second, "/b", new AttachOptions { CreateTarget = true });
            Assert.NotEqual(0, ns.Session.WorkerThreadId);
            Assert.NotNull(ContainerView.MountAt(container, "/b"));
        }
        finally
        {
            ContainerSession.WorkerIdleTimeout = idle;
        }
    }
}
