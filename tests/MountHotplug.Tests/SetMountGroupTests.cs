using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>MOVE_MOUNT_SET_GROUP through Set-MountGroup, within one container and across two, and each refusal explained.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SetMountGroupTests
{
    private const string Cmd = "MountHotplug.SetMountGroupCommand";

    // /t/a: tmpfs, shared. /t/b, /t/g: private binds of it. /t/c: another tmpfs. /t/d: bind of /t/a/sub1, shared on
    // its own; /t/e: private bind of /t/a/sub2. /t/f: bind of /t/a, shared in a group of its own.
    private const string Layout =
        "mkdir -p /t/a /t/b /t/c /t/d /t/e /t/f /t/g && mount -t tmpfs fsA /t/a && mkdir -p /t/a/sub1 /t/a/sub2 /t/a/dir"
        + " && mount -o bind /t/a /t/b && mount -o bind /t/a /t/g && mount -o bind /t/a /t/f && mount -t tmpfs fsC /t/c"
        + " && mount -o bind /t/a/sub1 /t/d && mount -o bind /t/a/sub2 /t/e"
        + " && mount --make-shared /t/a && mount --make-shared /t/d && mount --make-shared /t/f && ln -s /t/b /t/link";

    [SkippableFact]
    public void PrivateMountJoinsThePeerGroupAndReceivesLaterMounts()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid; Set-MountGroup -Source /t/a -Target /t/b -SourceNamespace $ct -TargetNamespace $ct -PassThru; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        MountInfo a = ContainerView.MountAt(container, "/t/a")!;
        MountInfo b = ContainerView.MountAt(container, "/t/b")!;
        Assert.NotEqual(0, a.PeerGroup);
        Assert.Equal(a.PeerGroup, b.PeerGroup);
        var passThru = Assert.IsType<Mount>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("/t/b", passThru.MountPoint);
        Assert.Equal((ulong)a.PeerGroup, passThru.PeerGroup);
        Assert.Equal(container.Pid, passThru.Namespace!.ProcessId);

        // The group is live: a mount made under one member appears under the other.
        container.ExecOrThrow("sh", "-c", "mkdir -p /t/a/live && mount -t tmpfs live /t/a/live");
        Assert.NotNull(ContainerView.MountAt(container, "/t/b/live"));
        Assert.Null(ContainerView.MountAt(container, "/t/g/live"));
    }

    [SkippableFact]
    public void MountsInTwoContainersJoinOnePeerGroupAcrossNamespaces()
    {
        using var scenario = Scenario.Start([SandboxKind.PivotRoot, SandboxKind.Chroot]);
        var (first, second, ps, tree) = (scenario.Containers[0], scenario.Containers[1], scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$c1 = Get-ContainerNamespace $pid1
$c2 = Get-ContainerNamespace $pid2
New-StagedMount $src -Propagation Shared | Move-MountIntoNamespace -Namespace $c1 -Target /vol -CreateTarget
New-StagedMount $src | Move-MountIntoNamespace -Namespace $c2 -Target /vol -CreateTarget
Set-MountGroup -Source /vol -SourceNamespace $c1 -Target /vol -TargetNamespace $c2 -PassThru
$c1.Dispose(); $c2.Dispose()", new Dictionary<string, object?> { ["pid1"] = first.Pid, ["pid2"] = second.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        MountInfo one = ContainerView.MountAt(first, "/vol")!;
        MountInfo two = ContainerView.MountAt(second, "/vol")!;
        Assert.NotEqual(0, one.PeerGroup);
        Assert.Equal(one.PeerGroup, two.PeerGroup);

        first.ExecOrThrow("sh", "-c", "mkdir -p /vol/sub && mount -t tmpfs shared-into-two /vol/sub && echo across > /vol/sub/f");
        Assert.Equal("across\n", second.ExecOrThrow("cat", "/vol/sub/f"));
    }

    public static TheoryData<string, string, string> RefusalCases => new()
    {
        { "-Source /t/a/dir -Target /t/b", $"SetGroupNotMountRoot,{Cmd}", "Source" },
        { "-Source /t/a -Target /t/b/dir", $"SetGroupNotMountRoot,{Cmd}", "Target" },
        { "-Source /t/a -Target /t/c", $"SetGroupDifferentFilesystem,{Cmd}", "different filesystems" },
        { "-Source /t/d -Target /t/e", $"SetGroupRootNotInside,{Cmd}", "'/sub2' is not inside Source's root '/sub1'" },
        { "-Source /t/a -Target /t/f", $"SetGroupTargetNotPrivate,{Cmd}", "make it private first" },
        { "-Source /t/b -Target /t/g", $"SetGroupSourcePrivate,{Cmd}", "Source is private" },
        { "-Source /t/nonexistent -Target /t/b", $"SourceNotFound,{Cmd}", "ENOENT" },
        { "-Source /t/a -Target relative", $"InvalidPath,{Cmd}", "absolute path" },
        // /t/link -> /t/b: followed, it would put /t/b into /t/a's group.
        { "-Source /t/a -Target /t/link", $"TargetIsSymlink,{Cmd}", "symbolic link" },
    };

    [SkippableTheory]
    [MemberData(nameof(RefusalCases))]
    public void EachRefusalNamesTheConditionThatFailed(string arguments, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run($"$ct = Get-ContainerNamespace $ctPid; Set-MountGroup {arguments} -SourceNamespace $ct -TargetNamespace $ct; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        var error = Assert.Single(result.Errors);
        Assert.Equal(expectedId, error.FullyQualifiedErrorId);
        Assert.Contains(expectedText, error.ErrorDetails?.Message ?? error.Exception.Message);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
    }

    [SkippableFact]
    public void GetMountObjectsBindOnBothSidesAndCarryTheirNamespaces()
    {
        using var scenario = Scenario.Start([SandboxKind.PivotRoot, SandboxKind.Chroot]);
        var (first, second, ps, tree) = (scenario.Containers[0], scenario.Containers[1], scenario.Session, scenario.Tree);
        first.ExecOrThrow("sh", "-c", Layout);

        PipelineResult result = ps.Run(@"
$c1 = Get-ContainerNamespace $pid1
$c2 = Get-ContainerNamespace $pid2
New-StagedMount $src | Move-MountIntoNamespace -Namespace $c1 -Target /vol -CreateTarget
New-StagedMount $src | Move-MountIntoNamespace -Namespace $c2 -Target /vol -CreateTarget
Set-MountAttribute -Mount (Get-Mount -Namespace $c1 -Path /vol) -Propagation Shared
# within one container: the Target comes from the pipeline
Get-Mount -Namespace $c1 -Path /t/b | Set-MountGroup -Source (Get-Mount -Namespace $c1 -Path /t/a) -PassThru
# across two: no -SourceNamespace/-TargetNamespace needed
Set-MountGroup -Source (Get-Mount -Namespace $c1 -Path /vol) -Target (Get-Mount -Namespace $c2 -Path /vol) -PassThru
$c1.Dispose(); $c2.Dispose()", new Dictionary<string, object?> { ["pid1"] = first.Pid, ["pid2"] = second.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        var passed = result.Output.Select(o => Assert.IsType<Mount>(o.BaseObject)).ToList();
        Assert.Equal(new[] { "/t/b", "/vol" }, passed.Select(m => m.MountPoint));
        Assert.Equal(new[] { first.Pid, second.Pid }, passed.Select(m => m.Namespace!.ProcessId));
        Assert.Equal((ulong)ContainerView.MountAt(first, "/t/a")!.PeerGroup, passed[0].PeerGroup);
        Assert.Equal((ulong)ContainerView.MountAt(first, "/vol")!.PeerGroup, passed[1].PeerGroup);
        Assert.NotEqual(0ul, passed[1].PeerGroup);

        first.ExecOrThrow("sh", "-c", "mkdir -p /vol/later && mount -t tmpfs later /vol/later && echo joined > /vol/later/f");
        Assert.Equal("joined\n", second.ExecOrThrow("cat", "/vol/later/f"));
    }

    [SkippableFact]
    public void AMountObjectRefusesAnotherNamespaceAndAMountThatChanged()
    {
        using var scenario = Scenario.Start([SandboxKind.PivotRoot, SandboxKind.PivotRoot]);
        var (first, second, ps) = (scenario.Containers[0], scenario.Containers[1], scenario.Session);
        first.ExecOrThrow("sh", "-c", Layout);
        string before = File.ReadAllText($"/proc/{first.Pid}/mountinfo");

        PipelineResult result = ps.Run(@"
$c1 = Get-ContainerNamespace $pid1
$c2 = Get-ContainerNamespace $pid2
$b = Get-Mount -Namespace $c1 -Path /t/b
Set-MountGroup -Source (Get-Mount -Namespace $c1 -Path /t/a) -Target $b -TargetNamespace $c2
$stale = Get-Mount -Namespace $c1 -Path /t/g
$c1.Dispose(); $c2.Dispose()
$stale", new Dictionary<string, object?> { ["pid1"] = first.Pid, ["pid2"] = second.Pid });
        Assert.Equal(new[] { $"NamespaceConflict,{Cmd}" }, result.ErrorIds);
        Assert.Equal(before, File.ReadAllText($"/proc/{first.Pid}/mountinfo"));

        // The mount listed at /t/g is replaced by another one at the same place before it is used.
        first.ExecOrThrow("sh", "-c", "umount /t/g && mount -o bind /t/a /t/g");
        before = File.ReadAllText($"/proc/{first.Pid}/mountinfo");
        var stale = (Mount)result.Output.Single().BaseObject;
        PipelineResult changed = ps.Run(@"
$c1 = Get-ContainerNamespace $pid1
Set-MountGroup -Source (Get-Mount -Namespace $c1 -Path /t/a) -Target ([MountHotplug.Mount]::new($stale, $c1))
$c1.Dispose()", new Dictionary<string, object?> { ["pid1"] = first.Pid, ["stale"] = stale });

        var error = Assert.Single(changed.Errors);
        Assert.Equal($"MountChanged,{Cmd}", error.FullyQualifiedErrorId);
        Assert.Contains("not the mount", error.ErrorDetails!.Message);
        Assert.Equal(before, File.ReadAllText($"/proc/{first.Pid}/mountinfo"));
    }

    [SkippableFact]
    public void WhatIfJoinsNothing()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", Layout);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid; Set-MountGroup /t/a /t/b -SourceNamespace $ct -TargetNamespace $ct -WhatIf; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.Empty(result.Errors);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.Contains("What if: ", ps.HostOutput);
        Assert.Contains("peer group", ps.HostOutput);
    }
}
