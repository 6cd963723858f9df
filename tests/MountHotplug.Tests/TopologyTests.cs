using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// Sharing layouts built two ways, and exported and restored, compared structurally (<see cref="MountTopology.Describe"/>: tree by
/// path, superblocks, peer groups and masters; ids ignored). Every layout is made inside sandbox containers.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class TopologyTests
{
    private const string Restore = "MountHotplug.RestoreMountTopologyCommand";

    /// <summary>
    /// The layout of the seed message: A and B in one peer group with different children, A/C shared, B/C private. Without
    /// MOVE_MOUNT_SET_GROUP only the order of the steps can get there: C must be mounted while A is still private, B made by a
    /// recursive bind after A turned shared (so it joins A's group and gets a private copy of C), and only then A/C shared.
    /// </summary>
    private const string MagicSequence =
        "mkdir -p /m && mount -t tmpfs top /m && mkdir /m/A /m/B"
        + " && mount -t tmpfs fsA /m/A && mkdir /m/A/C /m/A/E && mount -t tmpfs fsC /m/A/C && mkdir /m/A/C/x"
        + " && mount --make-shared /m/A"
        + " && mount --rbind /m/A /m/B"
        + " && mount --make-shared /m/A/C";

    /// <summary>The same mounts, all private, made directly with binds; the sharing is set afterwards with the cmdlets.</summary>
    private const string PrivateBinds =
        "mkdir -p /d && mount -t tmpfs top /d && mkdir /d/A /d/B"
        + " && mount -t tmpfs fsA /d/A && mkdir /d/A/C /d/A/E && mount --bind /d/A /d/B"
        + " && mount -t tmpfs fsC /d/A/C && mkdir /d/A/C/x && mount --bind /d/A/C /d/B/C";

    /// <summary>zdtm/static/mount_complex_sharing, step for step (mount_one applied in the order of its table).</summary>
    private const string MountComplexSharing =
        "mkdir -p /mcs && mount -t tmpfs tmpfs-dirname /mcs && mount --make-private /mcs && cd /mcs"
        + " && mkdir shared-bind-1 shared-bind-2 shared-bind-3 shared-bind-4 private-mnt shared-mnt slave-mnt slave-shared-mnt && echo TESTFILE > testfile"
        + " && mount -t tmpfs tmpfs-shared-bind shared-bind-1 && mount --make-shared shared-bind-1"
        + " && for p in prop-private prop-shared prop-slave prop-slave-shared prop-mount-flags; do mkdir shared-bind-1/$p; done"
        + " && for i in 2 3 4; do mount --bind shared-bind-1 shared-bind-$i; done"
        + " && mount -t tmpfs tmpfs-mnt private-mnt && mount --make-private private-mnt && mkdir private-mnt/subdir"
        + " && mount --bind private-mnt shared-mnt && mount --make-shared shared-mnt"
        + " && mount --bind shared-mnt slave-mnt && mount --make-slave slave-mnt"
        + " && mount --bind slave-mnt slave-shared-mnt && mount --make-shared slave-shared-mnt"
        + " && mount --bind private-mnt/subdir shared-bind-1/prop-private"
        + " && mount --bind shared-mnt/subdir shared-bind-1/prop-shared"
        + " && mount --bind slave-mnt/subdir shared-bind-1/prop-slave"
        + " && mount --bind slave-shared-mnt/subdir shared-bind-1/prop-slave-shared"
        + " && for p in prop-private prop-shared prop-slave prop-slave-shared; do mount --make-private shared-bind-2/$p; done"
        + " && for p in prop-private prop-shared prop-slave prop-slave-shared; do mount --make-slave shared-bind-3/$p; done"
        + " && for p in prop-private prop-shared prop-slave prop-slave-shared; do mount --make-private shared-bind-4/$p && mount --make-shared shared-bind-4/$p; done"
        + " && mount --bind private-mnt/subdir shared-bind-1/prop-mount-flags && mount -o remount,bind,ro shared-bind-1/prop-mount-flags"
        + " && mount -o remount,bind,ro shared-bind-2/prop-mount-flags";

    /// <summary>zdtm/static/shared_slave_mount_children: a shared slave with a peer, and a child that propagates between them.</summary>
    private const string SharedSlaveMountChildren =
        "mkdir -p /ssmc && mount -t tmpfs zdtm_fs /ssmc && mount --make-private /ssmc"
        + " && mkdir /ssmc/share && mount -t tmpfs share /ssmc/share && mount --make-shared /ssmc/share"
        + " && mkdir /ssmc/slave1 && mount --bind /ssmc/share /ssmc/slave1 && mount --make-slave /ssmc/slave1 && mount --make-shared /ssmc/slave1"
        + " && mkdir /ssmc/slave2 && mount --bind /ssmc/slave1 /ssmc/slave2"
        + " && mkdir /ssmc/slave1/child && mount -t tmpfs child /ssmc/slave1/child";

    [SkippableFact]
    public void TheSeedLayoutBuiltWithSetMountGroupEqualsTheMagicSequenceAndIsLive()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", MagicSequence + " && " + PrivateBinds);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
$a = Get-Mount -Namespace $ct -Path /d/A
$a | Set-MountAttribute -Propagation Shared
Set-MountGroup -Source $a -Target (Get-Mount -Namespace $ct -Path /d/B)
Get-Mount -Namespace $ct -Path /d/A/C | Set-MountAttribute -Propagation Shared
Export-MountTopology /m -Namespace $ct
Export-MountTopology /d -Namespace $ct
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        MountTopology magic = MountTopology.Parse((string)result.Output[0].BaseObject);
        MountTopology direct = MountTopology.Parse((string)result.Output[1].BaseObject);
        Assert.Equal(
            ".#0 parent=- tmpfs source=top root=/ sb=s1 rw,relatime super=rw peer=- master=-\n"
            + "A#0 parent=.#0 tmpfs source=fsA root=/ sb=s2 rw,relatime super=rw peer=g1 master=-\n"
            + "A/C#0 parent=A#0 tmpfs source=fsC root=/ sb=s3 rw,relatime super=rw peer=g2 master=-\n"
            + "B#0 parent=.#0 tmpfs source=fsA root=/ sb=s2 rw,relatime super=rw peer=g1 master=-\n"
            + "B/C#0 parent=B#0 tmpfs source=fsC root=/ sb=s3 rw,relatime super=rw peer=- master=-\n",
            magic.Describe());
        Assert.Equal(magic.Describe(), direct.Describe());

        // Live both ways: A and B are peers; A/C's group has no other member, and B/C, private, receives nothing.
        container.ExecOrThrow("sh", "-c", "for r in /m /d; do mount -t tmpfs under-a $r/A/E && mount -t tmpfs under-b-c $r/B/C/x; done");
        foreach (string root in new[] { "/m", "/d" })
        {
            Assert.Equal("under-a", ContainerView.MountAt(container, $"{root}/B/E")?.Source);
            Assert.Null(ContainerView.MountAt(container, $"{root}/A/C/x"));
        }
    }

    /// <summary>
    /// The volume-plugin case: a storage "host" (a chroot sandbox whose namespace plays the host's, with mhp running in it) has a
    /// shared volume; two containers got private binds of it at start. One joins the volume's peer group (mounts go both ways);
    /// the other becomes a slave through a detached relay staged with -Propagation Slave (mounts come in, none go out).
    /// </summary>
    [SkippableFact]
    public void ContainersJoinAHostSideVolumeAsPeerOrAsSlaveAcrossNamespaces()
    {
        using var scenario = Scenario.Start([SandboxKind.Chroot, SandboxKind.PivotRoot, SandboxKind.PivotRoot], sessions: 0);
        var (host, peer, slave) = (scenario.Containers[0], scenario.Containers[1], scenario.Containers[2]);
        host.ExecOrThrow("sh", "-c", "mkdir -p /vol && mount -t tmpfs volume /vol && mount --make-shared /vol && mkdir /vol/later /vol/from-peer /vol/from-slave");
        string volume = host.RootfsPath + "/vol";
        string script = Path.Combine(host.RootfsPath, "join.ps1");
        File.WriteAllText(script, """
            param($Volume, $PeerPid, $SlavePid)
            $peer = Get-ContainerNamespace $PeerPid
            $slave = Get-ContainerNamespace $SlavePid
            # What the containers got at start: private binds of the volume.
            New-StagedMount $Volume | Move-MountIntoNamespace -Namespace $peer -Target /data -CreateTarget
            New-StagedMount $Volume | Move-MountIntoNamespace -Namespace $slave -Target /data -CreateTarget
            # Peer: Get-Mount objects of this namespace and the container's.
            Set-MountGroup -Source (Get-Mount -Path $Volume) -Target (Get-Mount -Namespace $peer -Path /data)
            # Slave: a detached relay, a slave of the volume's group, is the Source.
            $relay = New-StagedMount $Volume -Propagation Slave
            try { Set-MountGroup -Source $relay -Target (Get-Mount -Namespace $slave -Path /data) -PassThru }
            finally { $relay.Dispose() }
            """);

        ExecResult run = Mhp.RunInMountNamespaceOf(host.Pid, "-File", script, "-Volume", volume, "-PeerPid", peer.Pid.ToString(), "-SlavePid", slave.Pid.ToString());

        Assert.True(run.ExitCode == 0, run.StandardOutput + run.StandardError);
        Assert.Contains("/data", run.StandardOutput);
        MountInfo vol = ContainerView.MountAt(host, "/vol")!;
        Assert.Equal(vol.PeerGroup, ContainerView.MountAt(peer, "/data")!.PeerGroup);
        MountInfo slaveData = ContainerView.MountAt(slave, "/data")!;
        Assert.Equal((0, vol.PeerGroup), (slaveData.PeerGroup, slaveData.Master));

        // Later host-side mounts reach both; the peer's reach the host; the slave's stay in the slave.
        host.ExecOrThrow("sh", "-c", "mount -t tmpfs later /vol/later && echo from-host > /vol/later/f");
        peer.ExecOrThrow("sh", "-c", "mount -t tmpfs from-peer /data/from-peer");
        slave.ExecOrThrow("sh", "-c", "mount -t tmpfs from-slave /data/from-slave");
        Assert.Equal("from-host\n", peer.ExecOrThrow("cat", "/data/later/f"));
        Assert.Equal("from-host\n", slave.ExecOrThrow("cat", "/data/later/f"));
        Assert.Equal("from-peer", ContainerView.MountAt(host, "/vol/from-peer")?.Source);
        Assert.Equal("from-peer", ContainerView.MountAt(slave, "/data/from-peer")?.Source);
        Assert.Null(ContainerView.MountAt(host, "/vol/from-slave"));
        Assert.Null(ContainerView.MountAt(peer, "/data/from-slave"));
    }

    public static TheoryData<string, string, SandboxKind> CriuLayouts => new()
    {
        { MountComplexSharing, "/mcs", SandboxKind.PivotRoot },
        { SharedSlaveMountChildren, "/ssmc", SandboxKind.Chroot },
    };

    [SkippableTheory]
    [MemberData(nameof(CriuLayouts))]
    public void ExportThenRestoreReproducesCriuLayoutsExactly(string layout, string root, SandboxKind kind)
    {
        using var scenario = Scenario.Start([SandboxKind.PivotRoot, kind]);
        var (source, target, ps) = (scenario.Containers[0], scenario.Containers[1], scenario.Session);
        source.ExecOrThrow("sh", "-c", layout);
        target.ExecOrThrow("sh", "-c", "mkdir -p /restore && mount -t tmpfs scratch /restore && mkdir /restore/here");

        PipelineResult result = ps.Run(@"
$src = Get-ContainerNamespace $srcPid
$dst = Get-ContainerNamespace $dstPid
$json = Export-MountTopology $root -Namespace $src
$json
$restored = $json | Restore-MountTopology -Destination /restore/here -Namespace $dst -PassThru
$restored.Count
Export-MountTopology /restore/here -Namespace $dst
$src.Dispose(); $dst.Dispose()", new Dictionary<string, object?> { ["srcPid"] = source.Pid, ["dstPid"] = target.Pid, ["root"] = root });

        Assert.True(result.Errors.Count == 0, result.Describe());
        MountTopology original = MountTopology.Parse((string)result.Output[0].BaseObject);
        MountTopology rebuilt = MountTopology.Parse((string)result.Output[2].BaseObject);
        Assert.Equal(original.Mounts.Count, (int)result.Output[1].BaseObject);
        Assert.Equal(original.Describe(), rebuilt.Describe());

        // Independent of the original: new filesystems and new peer groups.
        var sourceGroups = ContainerView.Mounts(source).Where(m => m.PeerGroup != 0).Select(m => m.PeerGroup).ToHashSet();
        Assert.DoesNotContain(ContainerView.Mounts(target), m => m.MountPoint.StartsWith("/restore/here", StringComparison.Ordinal) && sourceGroups.Contains(m.PeerGroup));
    }

    [SkippableFact]
    public void RestoreWithinOneContainerIsLiveAndASharedDestinationIsRefused()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", SharedSlaveMountChildren + " && mkdir -p /copy /shared && mount -t tmpfs shared /shared && mount --make-shared /shared && mkdir /shared/here");
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult refused = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
Export-MountTopology /ssmc -Namespace $ct | Restore-MountTopology -Destination /shared/here -Namespace $ct
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.Equal(new[] { $"DestinationShared,{Restore}" }, refused.ErrorIds);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
Export-MountTopology /ssmc -Namespace $ct | Restore-MountTopology -Destination /copy -Namespace $ct
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        container.ExecOrThrow("sh", "-c", "mkdir /copy/share/new && mount -t tmpfs new /copy/share/new && mkdir /copy/slave2/child/x && mount -t tmpfs x /copy/slave2/child/x");
        Assert.Equal("new", ContainerView.MountAt(container, "/copy/slave1/new")?.Source);
        Assert.Equal("new", ContainerView.MountAt(container, "/copy/slave2/new")?.Source);
        Assert.Equal("x", ContainerView.MountAt(container, "/copy/slave1/child/x")?.Source);
        Assert.Null(ContainerView.MountAt(container, "/ssmc/share/new"));
    }

    public static TheoryData<string, string, string> FailingTopologies => new()
    {
        // A bind of a filesystem the namespace does not have: refused before anything is attached.
        {
            """
            { "format": "MountHotplug.MountTopology/1", "root": "/x", "mounts": [
              { "id": 1, "path": "", "fileSystemType": "tmpfs", "source": "one", "root": "/", "superblock": 1, "device": "0:9999" },
              { "id": 2, "parent": 1, "path": "deep/er", "fileSystemType": "ext4", "source": "/dev/none", "root": "/", "superblock": 2, "device": "250:250" } ] }
            """,
            "SourceNotFound", "250:250"
        },
        // Found only once the tree is attached (at /dst/top/one, creating top/one), which is undone.
        { SlaveOfAGroupThatCannotShowIt, "SharingFailed", "cannot become a slave" },
    };

    /// <summary>A slave of a group none of whose members shows its directory: refused at the sharing step, after attaching.</summary>
    private const string SlaveOfAGroupThatCannotShowIt = """
        { "format": "MountHotplug.MountTopology/1", "root": "/x", "mounts": [
          { "id": 1, "path": "top/one", "fileSystemType": "tmpfs", "source": "one", "root": "/", "superblock": 1, "device": "0:9999" },
          { "id": 2, "parent": 1, "path": "top/one/a", "fileSystemType": "tmpfs", "source": "two", "root": "/a", "superblock": 2, "device": "0:9998", "peerGroup": 1 },
          { "id": 3, "parent": 1, "path": "top/one/b/c", "fileSystemType": "tmpfs", "source": "two", "root": "/b", "superblock": 2, "device": "0:9998", "master": 1 } ] }
        """;

    [SkippableTheory]
    [MemberData(nameof(FailingTopologies))]
    public void AFailedRestoreLeavesNothingBehind(string topology, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", "mkdir -p /dst");
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run("$ct = Get-ContainerNamespace $ctPid; Restore-MountTopology $topology -Destination /dst -Namespace $ct; $ct.Dispose()",
            new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["topology"] = topology });

        var error = Assert.Single(result.Errors);
        Assert.Equal($"{expectedId},{Restore}", error.FullyQualifiedErrorId);
        Assert.Contains(expectedText, error.ErrorDetails!.Message);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(container.RootfsPath, "dst")));
    }

    /// <summary>
    /// Without -Namespace the restore runs in the caller's own namespace, with no namespace thread: undoing the attached
    /// tree detaches a directory mount by its root descriptor on the calling thread, through /proc/self/fd (kernel-notes
    /// N18). It must leave nothing behind here either.
    /// </summary>
    [SkippableFact]
    public void AFailedRestoreInTheCallersOwnNamespaceLeavesNothingBehind()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        string destination = Directory.CreateDirectory(Path.Combine(tree.Root, "dst")).FullName;
        string before = ProcessState.OwnMountTable;

        PipelineResult result = ps.Run("Restore-MountTopology $topology -Destination $destination",
            new Dictionary<string, object?> { ["topology"] = SlaveOfAGroupThatCannotShowIt, ["destination"] = destination });

        var error = Assert.Single(result.Errors);
        Assert.Equal($"SharingFailed,{Restore}", error.FullyQualifiedErrorId);
        Assert.Equal(before, ProcessState.OwnMountTable);
        Assert.Empty(Directory.GetFileSystemEntries(destination));
    }

    /// <summary>
    /// A topology that never went through Parse: a typed cast from a hashtable, with a mount whose path climbs out of the
    /// destination. It used to be attached at the container's /etc; now it is refused before anything is made, by the cmdlet
    /// and by the core's restore alike.
    /// </summary>
    [SkippableFact]
    public void ATopologyMadeWithoutParseIsValidatedAndNeverAttachedOutsideTheDestination()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        container.ExecOrThrow("sh", "-c", "mkdir -p /dst");
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run("""
            $ct = Get-ContainerNamespace $ctPid
            # Output types are read-only in PowerShell: a hand-made topology arrives as JSON text.
            $t = @{ Root = '/x'; Mounts = @(@{ Id = 1; Path = '../etc'; FileSystemType = 'tmpfs'; Source = 'evil'; Root = '/'; Superblock = 1 }) } |
                ConvertTo-Json -Depth 5
            Restore-MountTopology -Topology $t -Destination /dst -Namespace $ct
            $ct.Dispose()
            """, new Dictionary<string, object?> { ["ctPid"] = container.Pid });
        // Parse refuses it while the parameter is bound: the reason is in the binding error, and nothing is attached.
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("CannotConvertArgument", error.FullyQualifiedErrorId);
        Assert.Contains("'../etc'", error.Exception.Message);

        // The core library's own entry point refuses it too, before it touches the namespace.
        var topology = new MountTopology
        {
            Root = "/x",
            Mounts = new[] { new TopologyMount { Id = 1, Path = "../etc", FileSystemType = "tmpfs", Source = "evil", Root = "/", Superblock = 1 } },
        };
        using (NamespaceWorker worker = NamespaceWorker.ForCallerNamespace())
        using (SafePathHandle root = MountSyscalls.Open("/", OpenFlags.Path | OpenFlags.Directory))
        {
            var refused = Assert.Throws<RestoreException>(() => TopologyRestore.Restore(topology, worker, root, "/nonexistent", Array.Empty<MountEntry>()));
            Assert.Equal(RestoreFailure.InvalidTopology, refused.Failure);
        }

        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.DoesNotContain("evil", File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
    }
}
