using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// Get-MountApiSupport, and the KernelTooOld error of every command for every feature it needs, with the probe
/// overridden (tests only) to say the feature is missing. In the privileged collection: the override is process-wide,
/// and these tests run one at a time after the parallel ones.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class KernelFeatureTests
{
    // How to run each command (mode) of the requirements table; $ct, $m (a staged mount) and $src are set up first.
    private static readonly Dictionary<string, (string Cmdlet, string Script)> Commands = new()
    {
        ["New-StagedMount -Path"] = ("NewStagedMountCommand", "New-StagedMount $src"),
        ["New-StagedMount -FileSystem"] = ("NewStagedMountCommand", "New-StagedMount -FileSystem tmpfs -Option size=1m"),
        ["New-StagedMount -IdMap"] = ("NewStagedMountCommand", "New-StagedMount $src -IdMap $ct"),
        ["Get-StagedMount"] = ("GetStagedMountCommand", "Get-StagedMount -Name kept"),
        ["Get-ContainerNamespace"] = ("GetContainerNamespaceCommand", "Get-ContainerNamespace $ctPid"),
        ["Move-MountIntoNamespace"] = ("MoveMountIntoNamespaceCommand", "$m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/x -CreateTarget"),
        ["Move-MountIntoNamespace -Replace"] = ("MoveMountIntoNamespaceCommand", "$m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/base -Replace"),
        ["Move-MountIntoNamespace -Seal"] = ("MoveMountIntoNamespaceCommand", "$m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/x -CreateTarget -Seal"),
        ["Set-MountGroup"] = ("SetMountGroupCommand", "Set-MountGroup -Source /mnt/base -Target /mnt/base -SourceNamespace $ct -TargetNamespace $ct"),
        ["Remove-Mount"] = ("RemoveMountCommand", "Remove-Mount -Path /mnt/base -Namespace $ct"),
        ["Watch-Mount"] = ("WatchMountCommand", "Watch-Mount -Namespace $ct -Timeout 1"),
        ["Sync-ContainerMount"] = ("SyncContainerMountCommand", "Sync-ContainerMount -Namespace $ct -Mount @{ Path = $src; Target = '/mnt/x' }"),
        ["Set-MountAttribute"] = ("SetMountAttributeCommand", "Set-MountAttribute -Path /mnt/base -Namespace $ct -ReadOnly"),
        // Export-MountTopology itself needs no feature; Restore-MountTopology stops in BeginProcessing, before the JSON arrives.
        ["Restore-MountTopology"] = ("RestoreMountTopologyCommand", "Export-MountTopology /mnt/base -Namespace $ct | Restore-MountTopology -Destination /mnt/x -Namespace $ct"),
    };

    /// <summary>Every (command, feature) pair the module's requirements table has: each gets a test of its error.</summary>
    public static TheoryData<string, KernelFeature> RequiredFeatures()
    {
        var data = new TheoryData<string, KernelFeature>();
        foreach (KernelFeature feature in KernelFeatures.All)
        {
            foreach (string command in Requirements.UsedBy(feature))
            {
                data.Add(command, feature);
            }
        }

        return data;
    }

    [Fact]
    public void TheRequirementsTableCoversWhatEachCommandCalls()
    {
        // Spot checks, independent of the table, so that emptying it cannot make the theory below vacuous.
        var pairs = RequiredFeatures().Select(row => ((string)row[0], (KernelFeature)row[1])).ToList();
        Assert.Contains(("New-StagedMount -Path", KernelFeature.OpenTree), pairs);
        Assert.Contains(("New-StagedMount -FileSystem", KernelFeature.FsOpen), pairs);
        Assert.Contains(("Move-MountIntoNamespace", KernelFeature.SetnsPidfd), pairs);
        Assert.Contains(("Move-MountIntoNamespace -Replace", KernelFeature.MoveMountBeneath), pairs);
        Assert.Contains(("Move-MountIntoNamespace -Seal", KernelFeature.Seal), pairs);
        Assert.Contains(("Set-MountGroup", KernelFeature.MoveMountSetGroup), pairs);
        Assert.Contains(("Remove-Mount", KernelFeature.SetnsPidfd), pairs);
        Assert.Contains(("Get-ContainerNamespace", KernelFeature.PidfdOpen), pairs);
        Assert.Contains(("Watch-Mount", KernelFeature.MountNotifications), pairs);
        Assert.Contains(("Sync-ContainerMount", KernelFeature.StatMountListMount), pairs);
        Assert.Contains(("Sync-ContainerMount", KernelFeature.MoveMountBeneath), pairs);
        Assert.Contains(("New-StagedMount -IdMap", KernelFeature.IdmappedMounts), pairs);
        Assert.Contains(("Get-StagedMount", KernelFeature.OpenTree), pairs);
        Assert.Contains(("Set-MountAttribute", KernelFeature.MountSetAttr), pairs);
        Assert.Contains(("Restore-MountTopology", KernelFeature.MoveMountSetGroup), pairs);
        Assert.All(pairs, p => Assert.True(Commands.ContainsKey(p.Item1), $"no script for {p.Item1}"));
        Assert.Equal(Commands.Keys.Order(), pairs.Select(p => p.Item1).Distinct().Order());
    }

    [SkippableTheory]
    [MemberData(nameof(RequiredFeatures))]
    public void AMissingFeatureStopsTheCommandNamingItAndItsVersion(string command, KernelFeature feature)
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount -FileSystem tmpfs | Move-MountIntoNamespace -Namespace $ct -Target /mnt/base -CreateTarget; $m = New-StagedMount $src", vars).Errors);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");
        (string cmdlet, string script) = Commands[command];

        PipelineResult result;
        using (KernelFeatures.OverrideForTesting(feature, supported: false))
        {
            result = ps.Run(script, vars);
        }

        var error = Assert.Single(result.Errors);
        Assert.Equal($"KernelTooOld,MountHotplug.{cmdlet}", error.FullyQualifiedErrorId);
        Assert.Equal("NotImplemented", error.CategoryInfo.Category.ToString());
        Assert.Equal(feature, error.TargetObject);
        string message = error.ErrorDetails!.Message;
        Assert.Contains($"{command} needs {KernelFeatures.SyscallName(feature)}, which came with Linux {KernelFeatures.IntroducedIn(feature)}", message);
        Assert.Contains("overridden for a test", message);
        Assert.Contains("Get-MountApiSupport", error.ErrorDetails.RecommendedAction);
        Assert.Empty(result.Output);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.False(Path.Exists(Path.Combine(container.RootfsPath, "mnt", "x")));

        // The override ends with its scope: the same command works again.
        Assert.True(KernelFeatures.IsSupported(feature));
        ps.Run("$m.Dispose(); $ct.Dispose()");
    }

    [SkippableFact]
    public void GetMountApiSupportProbesEveryFeature()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;

        PipelineResult result = ps.Run("Get-MountApiSupport");

        Assert.True(result.Errors.Count == 0, result.Describe());
        var rows = result.Output.Select(o => (MountApiFeature)o.BaseObject).ToList();
        Assert.Equal(KernelFeatures.All, rows.Select(r => r.GetFeature()));
        Assert.Equal(new[] { "5.2", "5.2", "5.2", "5.3", "5.6", "5.8", "5.12", "5.12", "5.12", "5.15", "6.5", "6.8", "6.15", "6.15" }, rows.Select(r => r.IntroducedIn));
        string release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        Version running = Version.Parse(string.Join('.', release.Split('-')[0].Split('.').Take(2)));
        foreach (MountApiFeature row in rows)
        {
            Assert.Equal(release, row.Kernel);
            Assert.False(string.IsNullOrWhiteSpace(row.Probe));
            Assert.DoesNotContain("overridden", row.Probe);

            // As root the probe always decides; on a mainline kernel at least as new as the feature it must find it.
            Assert.NotNull(row.Supported);
            if (running >= Version.Parse(row.IntroducedIn))
            {
                Assert.True(row.Supported, $"{row.Name} ({row.Probe}) on {release}");
            }
        }

        Assert.Contains("MOVE_MOUNT_BENEATH) = ENOENT", rows.Single(r => r.GetFeature() == KernelFeature.MoveMountBeneath).Probe);
        Assert.Equal(new[] { "Move-MountIntoNamespace -Replace", "Sync-ContainerMount" }, rows.Single(r => r.GetFeature() == KernelFeature.MoveMountBeneath).UsedBy);

        // The table view renders, with the filter.
        PipelineResult table = ps.Run("Get-MountApiSupport -Feature MoveMountBeneath, FsOpen | Out-Default");
        Assert.Empty(table.Errors);
        Assert.Contains("move_mount(MOVE_MOUNT_BENEATH)", ps.HostOutput);
        Assert.Contains("fsopen/fsconfig/fsmount", ps.HostOutput);
        Assert.DoesNotContain("open_tree_attr", ps.HostOutput);
    }

    [SkippableFact]
    public void GetMountApiSupportShowsAnOverriddenFeatureAsMissing()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;

        PipelineResult result;
        using (KernelFeatures.OverrideForTesting(KernelFeature.StatMountListMount, supported: false))
        {
            result = ps.Run("Get-MountApiSupport StatMountListMount");
        }

        var row = (MountApiFeature)Assert.Single(result.Output).BaseObject;
        Assert.False(row.Supported);
        Assert.Contains("overridden for a test", row.Probe);
        Assert.True(((MountApiFeature)ps.Run("Get-MountApiSupport StatMountListMount").Output.Single().BaseObject).Supported);
    }

    [SkippableFact]
    public void WithoutCapSysAdminFlagProbesSayTheyCannotTell()
    {
        using var scenario = Scenario.Start(containers: [], sessions: 0);

        ExecResult run = Mhp.RunWithoutCapabilities("-Command",
            "Get-MountApiSupport | ForEach-Object { '{0}={1}' -f $_.Feature, $(if ($null -eq $_.Supported) { 'unknown' } else { $_.Supported }) }");

        Assert.True(run.ExitCode == 0, run.StandardOutput + run.StandardError);
        string[] lines = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // The calls exist whoever asks; whether a flag is known is decided after the permission check.
        Assert.Contains("OpenTree=True", lines);
        Assert.Contains("FsOpen=True", lines);
        Assert.Contains("SetnsPidfd=True", lines);
        Assert.Contains("MoveMountBeneath=unknown", lines);
        Assert.Contains("MoveMountSetGroup=unknown", lines);
        Assert.Contains("IdmappedMounts=unknown", lines);
    }
}
