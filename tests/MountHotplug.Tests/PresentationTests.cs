using System.Management.Automation;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>What an admin sees at the prompt: table views, Tab, progress, and objects that crossed a process boundary.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class PresentationTests
{
    [SkippableFact]
    public void OutDefaultShowsTheTableViews()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
$ct | Out-Default
New-StagedMount $src -ReadOnly -NoSuid | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru | Out-Default
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        string[] lines = ps.HostOutput.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("Runtime Name", StringComparison.Ordinal) && l.Contains("PID Process") && l.Contains("MountNs") && l.Contains("Root"));
        Assert.Contains(lines, l => l.TrimStart().StartsWith($"{container.Pid} testinit", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("State", StringComparison.Ordinal) && l.Contains("Source") && l.Contains("Attributes") && l.Contains("Target"));
        Assert.Contains(lines, l => l.StartsWith("Attached", StringComparison.Ordinal) && l.Contains(tree.Data) && l.Contains("ro,nosuid") && l.Contains("/mnt/data"));
    }

    [SkippableFact]
    public void ObjectsExplainThemselvesAsStrings()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
""$ct""
$m = New-StagedMount $src -ReadOnly
""$m""
$m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget
""$m""
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        var text = result.Output.Select(o => o.ToString()).ToList();
        Assert.Matches($"^PID {container.Pid} \\(testinit\\), mount namespace \\d+$", text[0]);
        Assert.Equal($"{tree.Data} (staged, ro)", text[1]);
        Assert.Equal($"{tree.Data} -> /mnt/data in PID {container.Pid} (ro)", text[2]);
    }

    [SkippableFact]
    public void TabCompletesTargetsInsideTheContainerOnly()
    {
        using var scenario = Scenario.Start(SandboxKind.Chroot);
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", "mkdir -p '/mnt/inside one' /mnt/inside2 && ln -s / /mnt/toroot && touch /mnt/afile");
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        IReadOnlyList<string> top = ps.Complete("Move-MountIntoNamespace -Namespace $ct -Target /m");
        Assert.Contains("/mnt/", top);
        Assert.DoesNotContain(top, t => t.StartsWith("/media", StringComparison.Ordinal)); // a host directory the busybox root lacks

        IReadOnlyList<string> inner = ps.Complete("Move-MountIntoNamespace -Namespace $ct -Target /mnt/");
        Assert.Equal(new[] { "'/mnt/inside one/'", "/mnt/afile", "/mnt/inside2/", "/mnt/toroot" }, inner);

        // Through the symlink to "/" the listing is the container's root, never the host's.
        IReadOnlyList<string> through = ps.Complete("Move-MountIntoNamespace -Namespace $ct -Target /mnt/toroot/");
        Assert.Contains("/mnt/toroot/sbin/", through);
        Assert.DoesNotContain("/mnt/toroot/work/", through);
        Assert.DoesNotContain("/mnt/toroot/usr/share/", through);
        ps.Run("$ct.Dispose()");
    }

    [SkippableFact]
    public void ManyMountsReportProgress()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
1..5 | ForEach-Object { New-StagedMount $src } | Move-MountIntoNamespace -Namespace $ct -Target /mnt/p -CreateTarget -Force
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Contains(result.Progress, p => p.StatusDescription == $"5 attached, 0 failed in PID {container.Pid}");
        Assert.Equal(ProgressRecordType.Completed, result.Progress[^1].RecordType);
    }

    [SkippableFact]
    public void SerializedObjectsKeepTheirPropertiesButCannotBeUsedAcrossProcesses()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
$m = New-StagedMount $src -ReadOnly
$ctCopy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($ct))
$mCopy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($m))
$ctCopy.ProcessId; $ctCopy.MountNamespaceId -eq $ct.MountNamespaceId; $ctCopy.ProcessName; $ctCopy.PSObject.TypeNames[0]
$mCopy.Source; $mCopy.MountId -eq $m.MountId; $mCopy.ReadOnly; [string]$mCopy.State
$m | Move-MountIntoNamespace -Namespace $ctCopy -Target /mnt/data -CreateTarget
$mCopy | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget
$m.Dispose(); $ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.Equal(new object[] { container.Pid, true, "testinit", "Deserialized.MountHotplug.ContainerNamespace", tree.Data, true, true, "Staged" },
            result.Output.Select(o => o.BaseObject));
        Assert.Equal(2, result.Errors.Count);
        Assert.All(result.Errors, e =>
        {
            Assert.StartsWith("ParameterArgumentTransformationError", e.FullyQualifiedErrorId);
            Assert.Contains("cannot cross hosts or processes", e.Exception.Message);
        });
        Assert.Null(ContainerView.MountAt(container, "/mnt/data"));
    }

    [SkippableFact]
    public void TabCompletesMountPointsOfTheNamedNamespace()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", "mkdir -p '/srv/vol one' /srv/vol2 && mount -t tmpfs a '/srv/vol one' && mount -t tmpfs b /srv/vol2");
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.Equal(new[] { "'/srv/vol one'", "/srv/vol2" }, ps.Complete("Get-Mount -Namespace $ct -Path /srv/"));
        Assert.Equal(new[] { "/srv/vol2" }, ps.Complete($"Remove-Mount -Namespace $ct -Path /srv/vol2"));
        Assert.Contains("/proc", ps.Complete($"Set-MountAttribute -Namespace $ct -Path /pr"));
        Assert.Equal(new[] { "/srv/vol2" }, ps.Complete($"Get-Mount -ProcessId {container.Pid} -Path /srv/vol2"));

        // Without a namespace: the caller's own mount points, which do not include the container's.
        Assert.DoesNotContain("/srv/vol2", ps.Complete("Get-Mount -Path /srv/"));
        ps.Run("$ct.Dispose()");
    }
}
