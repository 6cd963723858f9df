using System.Diagnostics;
using System.Management.Automation;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// 10,000 stage / move / unplug cycles against one container, one in five failing on purpose, five different ways.
/// Open descriptors and managed memory must stay flat, and nothing may stay mounted or created.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private const int Cycles = 10_000;
    private const int CyclesPerBatch = 50;
    private const int CyclesPerCheckpoint = 1_000;

    // Managed heap growth allowed from the first checkpoint (the engine and JIT are warm by then) to the last. The
    // figures measured are in docs/reliability.md; a leak of one object graph per cycle would pass this by far.
    private const long AllowedGrowthBytes = 16L * 1024 * 1024;

    // Every fifth cycle fails on purpose; they take turns. Script, error id expected.
    private static readonly (string Script, string ErrorId)[] Failures =
    [
        ("New-StagedMount /nonexistent/mhp-soak | Move-MountIntoNamespace -Namespace $ct -Target /mnt/soak/never -CreateTarget -PassThru", "SourceNotFound,MountHotplug.NewStagedMountCommand"),
        ("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target mnt/soak/relative -CreateTarget -PassThru", "InvalidTarget,MountHotplug.MoveMountIntoNamespaceCommand"),
        ("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/soak/missing/x -PassThru", "TargetNotFound,MountHotplug.MoveMountIntoNamespaceCommand"),
        ("New-StagedMount $file | Move-MountIntoNamespace -Namespace $ct -Target /mnt/soak -PassThru", "TargetTypeMismatch,MountHotplug.MoveMountIntoNamespaceCommand"),
        ("New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /proc -PassThru", "TargetIsMountPoint,MountHotplug.MoveMountIntoNamespaceCommand"),
    ];

    [SkippableFact]
    public void TenThousandCyclesKeepDescriptorsAndMemoryFlatAndLeaveNothing()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        container.ExecOrThrow("mkdir", "-p", "/mnt/soak");
        var tableBefore = ContainerView.NamespaceMounts(container).Select(m => m.MountId).ToList();
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        ps.Runspace.SessionStateProxy.SetVariable("src", tree.Data);
        ps.Runspace.SessionStateProxy.SetVariable("file", tree.SingleFile);

        var checkpoints = new List<(int Cycle, long Heap, int Descriptors, List<string> DescriptorKinds, int Threads, double Seconds)>();
        var failuresById = new Dictionary<string, int>();
        int attached = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int first = 0; first < Cycles; first += CyclesPerBatch)
        {
            var cycles = Enumerable.Range(first, CyclesPerBatch).ToList();
            string[] scripts = cycles.Select(n => n % 5 == 4
                ? Failures[n / 5 % Failures.Length].Script
                : $"$m = New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/soak/s{n % CyclesPerBatch} -CreateTarget -PassThru; $m | Remove-Mount -Confirm:$false; $m").ToArray();
            PipelineResult result = ps.Run("foreach ($s in $scripts) { ,@(& ([scriptblock]::Create($s)) 2>&1) }",
                new Dictionary<string, object?> { ["scripts"] = scripts });
            Assert.True(result.Errors.Count == 0 && result.Output.Count == CyclesPerBatch, $"cycles {first}..: {result.Describe()}");

            for (int i = 0; i < CyclesPerBatch; i++)
            {
                int n = cycles[i];
                object[] outcome = ((object[])result.Output[i].BaseObject).Select(o => o is PSObject p ? p.BaseObject : o).ToArray();
                object single = Assert.Single(outcome);
                if (n % 5 == 4)
                {
                    var error = Assert.IsType<ErrorRecord>(single);
                    Assert.Equal(Failures[n / 5 % Failures.Length].ErrorId, error.FullyQualifiedErrorId);
                    failuresById[error.FullyQualifiedErrorId.Split(',')[0]] = failuresById.GetValueOrDefault(error.FullyQualifiedErrorId.Split(',')[0]) + 1;
                }
                else
                {
                    // Stage, move and unplug all through the cmdlets: Remove-Mount took it out again inside the container.
                    var mount = Assert.IsType<StagedMount>(single);
                    Assert.Equal(StagedMountState.Removed, mount.GetState());
                    attached++;
                }
            }

            if ((first + CyclesPerBatch) % CyclesPerCheckpoint == 0)
            {
                Assert.Equal(tableBefore, ContainerView.NamespaceMounts(container).Select(m => m.MountId).ToList());
                List<string> descriptors = ProcessState.OpenDescriptors(); // after full collections and finalizers
                long heap = GC.GetTotalMemory(forceFullCollection: true);
                checkpoints.Add((first + CyclesPerBatch, heap, descriptors.Count, HostGuard.Kinds(descriptors), Process.GetCurrentProcess().Threads.Count, stopwatch.Elapsed.TotalSeconds));
            }
        }

        stopwatch.Stop();
        ps.Run("$ct.Dispose()");
        foreach (var c in checkpoints)
        {
            output.WriteLine($"cycle {c.Cycle,6}: managed heap {c.Heap / 1024.0 / 1024.0,6:0.00} MiB, {c.Descriptors} descriptors, {c.Threads} threads, {c.Seconds,5:0.0} s");
        }

        var warm = checkpoints[0];
        var last = checkpoints[^1];
        output.WriteLine($"{Cycles} cycles in {stopwatch.Elapsed.TotalSeconds:0.0} s: {attached} attached and unplugged, "
            + $"{failuresById.Values.Sum()} failed on purpose ({string.Join(", ", failuresById.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}); "
            + $"heap {warm.Heap / 1024.0 / 1024.0:0.00} -> {last.Heap / 1024.0 / 1024.0:0.00} MiB from cycle {warm.Cycle} to {last.Cycle}; descriptors {warm.Descriptors} -> {last.Descriptors}");

        Assert.Equal(Cycles / 5 * 4, attached);
        Assert.All(checkpoints.Skip(1), c => Assert.Equal(warm.DescriptorKinds, c.DescriptorKinds));
        Assert.True(last.Heap - warm.Heap < AllowedGrowthBytes, $"the managed heap grew by {(last.Heap - warm.Heap) / 1024 / 1024} MiB over {last.Cycle - warm.Cycle} cycles");
        Assert.Equal(tableBefore, ContainerView.NamespaceMounts(container).Select(m => m.MountId).ToList());

        // What successful cycles created (s0..s49 by the slots they used) stays; what failing ones would have created does not.
        var left = Directory.GetFileSystemEntries(container.RootfsPath + "/mnt/soak").Select(Path.GetFileName).ToHashSet();
        Assert.True(left.SetEquals(Enumerable.Range(0, CyclesPerBatch).Where(k => k % 5 != 4).Select(k => $"s{k}")), string.Join(' ', left));
    }
}
