using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Staging;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>New-StagedMount -FileSystem: fsopen/fsconfig/fsmount, hot-plugged into real sandbox containers.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class NewFileSystemTests
{
    private const string Cmd = "MountHotplug.NewStagedMountCommand";

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void TmpfsWithASizeIsStagedAndHotplugged(SandboxKind kind)
    {
        using var scenario = Scenario.Start(kind);
        var (container, ps) = (scenario.Container, scenario.Session);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
try {
    New-StagedMount -FileSystem tmpfs -Source mhp-scratch -Option size=64m, mode=0750 -NoSuid -NoDev -Verbose |
        Move-MountIntoNamespace -Namespace $ct -Target /mnt/scratch -CreateTarget -PassThru
} finally { $ct.Dispose() }", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        var staged = Assert.IsType<StagedMount>(Assert.Single(result.Output).BaseObject);
        Assert.Equal("tmpfs", staged.FileSystem);
        Assert.Equal("mhp-scratch", staged.Source);
        Assert.Equal(new[] { "size=64m", "mode=0750" }, staged.Options);
        Assert.Equal(StagedMountState.Attached, staged.GetState());
        string verbose = string.Join("\n", result.Verbose.Select(v => v.Message));
        foreach (string call in new[] { "fsopen(\"tmpfs\"", "FSCONFIG_SET_STRING, \"size\", \"64m\"", "FSCONFIG_CMD_CREATE", "fsmount(", "MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV" })
        {
            Assert.Contains(call, verbose);
        }

        // The container sees a 64 MiB tmpfs with the mode and flags asked for, and can use it.
        MountInfo row = Assert.IsType<MountInfo>(ContainerView.MountAt(container, "/mnt/scratch"));
        Assert.Equal("tmpfs", row.FileSystemType);
        Assert.Equal("mhp-scratch", row.Source);
        Assert.Contains("size=65536k", row.SuperOptions.Split(','));
        Assert.Contains("mode=750", row.SuperOptions.Split(','));
        Assert.Contains("nosuid", row.Options.Split(','));
        Assert.Contains("nodev", row.Options.Split(','));
        Assert.Equal(0, row.PeerGroup);
        Assert.Contains("65536", container.ExecOrThrow("df", "-k", "/mnt/scratch"));
        Assert.Equal("written inside\n", container.ExecOrThrow("sh", "-c", "echo written inside > /mnt/scratch/f && cat /mnt/scratch/f"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(container.RootfsPath, "mnt", "scratch")));
    }

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void Ext4OnALoopDeviceIsStagedReadOnlyAndHotplugged(SandboxKind kind)
    {
        LoopDevice loop;
        using (var scenario = Scenario.Start(kind))
        {
            var (container, ps) = (scenario.Container, scenario.Session);

            // The scenario detaches the device after it has stopped the container, whose namespace holds the mount.
            loop = scenario.Own(LoopDevice.CreateExt4(new Dictionary<string, string> { ["hello.txt"] = "from an ext4 image\n", ["sub/deep.txt"] = "deep\n" }));
            PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
try {
    New-StagedMount -FileSystem ext4 -Source $dev -ReadOnly -NoExec | Move-MountIntoNamespace -Namespace $ct -Target /mnt/disk -CreateTarget -PassThru
} finally { $ct.Dispose() }", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["dev"] = loop.Device });

            Assert.True(result.Errors.Count == 0, result.Describe());
            var staged = Assert.IsType<StagedMount>(Assert.Single(result.Output).BaseObject);
            Assert.Equal("ext4", staged.FileSystem);
            Assert.Equal(loop.Device, staged.Source);

            Assert.Equal("from an ext4 image\n", container.ExecOrThrow("cat", "/mnt/disk/hello.txt"));
            Assert.Equal("deep\n", container.ExecOrThrow("cat", "/mnt/disk/sub/deep.txt"));
            MountInfo row = Assert.IsType<MountInfo>(ContainerView.MountAt(container, "/mnt/disk"));
            Assert.Equal("ext4", row.FileSystemType);
            Assert.Equal(loop.Device, row.Source);
            Assert.True(row.IsReadOnly, row.ToString());
            Assert.Contains("noexec", row.Options.Split(','));
            ExecResult write = container.Exec("sh", "-c", "echo x > /mnt/disk/new.txt");
            Assert.NotEqual(0, write.ExitCode);
            Assert.Contains("Read-only file system", write.StandardError);

            // Nothing of it is mounted on the host.
            Assert.DoesNotContain(loop.Device, ProcessState.HostMountTable);
            Assert.DoesNotContain(loop.Device, ProcessState.OwnMountTable);
        }

        // The container is gone, and with its namespace the mount: the device was detached for good.
        Assert.False(LoopDevice.StillAttached(loop.Device, TimeSpan.FromSeconds(5)), $"{loop.Device} is still attached");
    }

    public static TheoryData<string, string, string> BadInputCases => new()
    {
        // script, error id, text that must be in the message (the kernel's own words where it gave any)
        { "New-StagedMount -FileSystem tmpfs -Option size=64x", $"FileSystemOptionRejected,{Cmd}", "The kernel says: tmpfs: Bad value for 'size'" },
        { "New-StagedMount -FileSystem tmpfs -Option size=64m, nonsense=1", $"FileSystemOptionRejected,{Cmd}", "The kernel says: tmpfs: Unknown parameter 'nonsense'" },
        { "New-StagedMount -FileSystem tmpfs -Option 'size=64m,mode=0755'", $"FileSystemOptionRejected,{Cmd}", "one option per element" },
        { "New-StagedMount -FileSystem ext4 -Source $dev -Option errors=sometimes", $"FileSystemOptionRejected,{Cmd}", "ext4: Bad value for 'errors'" },
        { "New-StagedMount -FileSystem ext4 -Source $blank", $"FileSystemCreateFailed,{Cmd}", "logged no message for it. Check that -Source holds a filesystem of type ext4 (blkid shows what it holds). Some filesystems write their reason only to the kernel log (dmesg | tail)." },
        { "New-StagedMount -FileSystem ext4 -Source /etc/hostname", $"FileSystemCreateFailed,{Cmd}", "Can't lookup blockdev" },
        { "New-StagedMount -FileSystem mhp-no-such-fs", $"FileSystemNotFound,{Cmd}", "ENODEV" },
        { "New-StagedMount -FileSystem tmpfs -Option '=64m'", $"InvalidOption,{Cmd}", "no name before '='" },
    };

    [SkippableTheory]
    [MemberData(nameof(BadInputCases))]
    public void BadFileSystemInputGivesTheKernelsMessageAndLeavesNothing(string script, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;
        LoopDevice loop = scenario.Own(LoopDevice.CreateExt4(new Dictionary<string, string> { ["f"] = "x\n" }));
        LoopDevice blank = scenario.Own(LoopDevice.CreateBlank());

        PipelineResult result = ps.Run(script, new Dictionary<string, object?> { ["dev"] = loop.Device, ["blank"] = blank.Device });

        Assert.Empty(result.Output);
        var error = Assert.Single(result.Errors);
        Assert.Equal(expectedId, error.FullyQualifiedErrorId);
        string message = error.ErrorDetails!.Message;
        Assert.Contains(expectedText, message + " " + error.ErrorDetails.RecommendedAction); // the text may be the remedy, now only in RecommendedAction
        Assert.False(string.IsNullOrEmpty(error.ErrorDetails.RecommendedAction), "the error says what to do");
        if (error.Exception is FileSystemException fs)
        {
            Assert.Equal(fs.KernelMessages.Count == 0, message.Contains("logged no message", StringComparison.Ordinal));
        }
    }

    [SkippableFact]
    public void PropagationAndReadOnlyApplyToTheNewFileSystem()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
New-StagedMount -FileSystem tmpfs -Propagation Shared | Move-MountIntoNamespace -Namespace $ct -Target /srv/shared -CreateTarget
New-StagedMount -FileSystem tmpfs -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /srv/ro -CreateTarget
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.NotEqual(0, ContainerView.MountAt(container, "/srv/shared")!.PeerGroup);
        MountInfo ro = ContainerView.MountAt(container, "/srv/ro")!;
        Assert.True(ro.IsReadOnly);
        Assert.Equal("none", ro.Source); // no -Source: the kernel shows "none"
    }

    [SkippableFact]
    public void ANewFileSystemIsKeptInTheStageAndEveryPickupIsTheSameInstance()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        string name = "mhp-fs-" + Guid.NewGuid().ToString("N")[..8];
        var key = new StageKey(null, name);
        try
        {
            // -StageName used to be taken and ignored with -FileSystem: the mount came back with no StageName, nothing kept.
            PipelineResult staged = ps.Run("$m = New-StagedMount -FileSystem tmpfs -Source mhp-kept -Option size=8m -StageName $n; $m.StageName; $m.FileSystem; $m.Dispose()",
                new Dictionary<string, object?> { ["n"] = name });
            Assert.True(staged.Errors.Count == 0, staged.Describe());
            Assert.Equal(new object[] { name, "tmpfs" }, staged.Output.Select(o => o.BaseObject));
            MountInfo kept = Assert.Single(MountInfoParser.Read(), m => m.MountPoint == StageStore.EntryPath(key));
            Assert.Equal(("tmpfs", "mhp-kept"), (kept.FileSystemType, kept.Source));

            // Picked up again, it still says what it is.
            PipelineResult listed = ps.Run("$k = Get-StagedMount -Name $n; '{0}|{1}|{2}' -f $k.Source, $k.FileSystem, ($k.Options -join ','); $k.Dispose()",
                new Dictionary<string, object?> { ["n"] = name });
            Assert.True(listed.Errors.Count == 0, listed.Describe());
            Assert.Equal("mhp-kept|tmpfs|size=8m", Assert.Single(listed.Output).BaseObject);

            // Another process plugs it into the container; what the container writes is in the one kept instance.
            ExecResult hook = Mhp.Run("-Command",
                $"$ct = Get-ContainerNamespace {container.Pid}; Get-StagedMount -Name {name} | Move-MountIntoNamespace -Namespace $ct -Target /mnt/kept -CreateTarget; $ct.Dispose(); if (-not $?) {{ exit 3 }}");
            Assert.True(hook.ExitCode == 0, hook.StandardError + hook.StandardOutput);
            container.ExecOrThrow("sh", "-c", "echo from the container > /mnt/kept/note");
            Assert.Equal("from the container\n", File.ReadAllText(Path.Combine(StageStore.EntryPath(key), "note")));

            PipelineResult whatIf = ps.Run("New-StagedMount -FileSystem tmpfs -StageName $n-whatif -WhatIf", new Dictionary<string, object?> { ["n"] = name });
            Assert.True(whatIf.Errors.Count == 0 && whatIf.Output.Count == 0, whatIf.Describe());
            Assert.False(Path.Exists(StageStore.EntryPath(new StageKey(null, name + "-whatif"))));
        }
        finally
        {
            if (Path.Exists(StageStore.EntryPath(key)))
            {
                StageStore.Remove(key, null);
            }
        }
    }

    [SkippableFact]
    public void ANewFileSystemIsIdmappedThroughAUserNamespace()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);
        using Process userns = ChildProcess.Start(["unshare", "--user", "--map-users=100000,0,65536", "--map-groups=100000,0,65536", "sleep", "600"]);
        try
        {
            string usernsPath = $"/proc/{userns.Id}/ns/user";
            // unshare writes the two maps one after the other, from a helper, while sleep already runs: wait for both.
            Assert.True(Poll.Until(() => File.Exists($"/proc/{userns.Id}/gid_map") && File.ReadAllText($"/proc/{userns.Id}/uid_map").Contains("100000")
                && File.ReadAllText($"/proc/{userns.Id}/gid_map").Contains("100000"), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10)),
                "unshare --user did not map its user namespace");

            // -IdMap used to be taken and ignored with -FileSystem. The new tmpfs's root belongs to host root on disk;
            // through the idmapped mount it shows as what host uid 0 is inside that namespace's map: 100000.
            PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
try { New-StagedMount -FileSystem tmpfs -IdMap $u -Verbose | Move-MountIntoNamespace -Namespace $ct -Target /mnt/idmapped -CreateTarget -PassThru }
finally { $ct.Dispose() }", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["u"] = usernsPath });
            Assert.True(result.Errors.Count == 0, result.Describe());
            var staged = Assert.IsType<StagedMount>(Assert.Single(result.Output).BaseObject);
            Assert.True(staged.IdMapped);
            Assert.Contains(result.Verbose, v => v.Message.Contains("MOUNT_ATTR_IDMAP") && v.Message.EndsWith("= 0", StringComparison.Ordinal));
            Assert.Equal("100000 100000", container.ExecOrThrow("stat", "-c", "%u %g", "/mnt/idmapped").Trim());
            Assert.Contains("idmapped", ContainerView.MountAt(container, "/mnt/idmapped")!.Options.Split(','));
        }
        finally
        {
            userns.Kill();
            userns.WaitForExit();
        }
    }

    [SkippableTheory]
    [InlineData("-FileSystem tmpfs")]
    [InlineData("-Path $src")]
    public void AUserNamespaceWithoutMapsIsSaidToBeOneNotAFilesystemThatCannotBeIdmapped(string what)
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        using Process userns = ChildProcess.Start(["unshare", "--user", "sleep", "600"]);
        try
        {
            string usernsPath = $"/proc/{userns.Id}/ns/user";
            Assert.True(Poll.Until(() => new FileInfo(usernsPath).LinkTarget != new FileInfo("/proc/self/ns/user").LinkTarget, TimeSpan.FromSeconds(10),
                TimeSpan.FromMilliseconds(10)), "unshare --user did not get its own user namespace");

            // The kernel says EINVAL, as it does for a filesystem without idmap support; that is what the error used to say.
            PipelineResult result = ps.Run($"New-StagedMount {what} -IdMap $u", new Dictionary<string, object?> { ["u"] = usernsPath, ["src"] = tree.Data });
            Assert.Empty(result.Output);
            var error = Assert.Single(result.Errors);
            Assert.Equal($"IdMapFailed,{Cmd}", error.FullyQualifiedErrorId);
            Assert.Contains("has no uid or gid map yet", error.ErrorDetails?.Message ?? error.Exception.Message);
            Assert.Equal(System.Management.Automation.ErrorCategory.InvalidOperation, error.CategoryInfo.Category);
            Assert.Equal(Errno.EINVAL, Assert.IsType<SyscallException>(error.Exception.InnerException).Errno);
        }
        finally
        {
            userns.Kill();
            userns.WaitForExit();
        }
    }
}
