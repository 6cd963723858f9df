using System.Management.Automation;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using MountHotplug.Tests.Runtimes;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Seal;

/// <summary>
/// Move-MountIntoNamespace -Seal against a real unprivileged LXC container: its root tries, with tests/seal/seal_spike.c's
/// attack mode and with busybox's mount, every way to make the sealed mounts writable or to take them away. Every write
/// path is refused while the same attempts make an unsealed control mount (same staging: idmapped, so the container's
/// root owns the files) writable, which proves the refusals come from the seal and not from the setup.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SealTests(ITestOutputHelper output)
{
    private const string MoveCommand = "MountHotplug.MoveMountIntoNamespaceCommand";

    [SkippableFact]
    public void ASealedHotplugCannotBeMadeWritableByTheContainersRootButCanBeUnmounted()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        using var scenario = Scenario.Prepare(containers: [], treeContent: "sealed host file\n");
        var (ps, sealedTree) = (scenario.Session, scenario.Tree);
        TempTree controlTree = scenario.NewTree("control host file\n");
        string spike = SealSpike.Build(sealedTree.Root);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-sld-"), unprivileged: true));
        SealSpike.CopyInto(lxc, spike);
        scenario.Begin();

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
try {
    foreach ($name in 'sealed', 'sealed-umount', 'sealed-lazy', 'sealed-move', 'busybox') {
        New-StagedMount $src -ReadOnly -NoSuid -NoDev -IdMap $ct |
            Move-MountIntoNamespace -Namespace $ct -Target ""/mnt/hp/$name"" -CreateTarget -Seal -PassThru
    }
    New-StagedMount $ctl -ReadOnly -NoSuid -NoDev -IdMap $ct | Move-MountIntoNamespace -Namespace $ct -Target /mnt/hp/control -CreateTarget
} finally { $ct.Dispose() }", Vars(("n", lxc.Name), ("p", lxc.LxcPath), ("src", sealedTree.Data), ("ctl", controlTree.Data)));

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(5, result.Output.Count);
        Assert.All(result.Output, o => Assert.True((bool)o.Properties["Sealed"].Value));
        Assert.Contains(result.Warnings, w => w.Message.Contains("/mnt/hp/sealed is sealed") && w.Message.Contains("can still unmount or move it"));
        Assert.Contains(result.Warnings, w => w.Message.Contains("can unmount /mnt/hp/control or clear its ro/nosuid/nodev flags (-Seal locks them)"));

        // busybox's own mount, as a container's admin would type it.
        foreach (string options in new[] { "remount,rw", "remount,bind,rw" })
        {
            ExecResult sealedRemount = lxc.Exec("mount", "-o", options, "/mnt/hp/busybox");
            Assert.True(sealedRemount.ExitCode != 0, $"mount -o {options} of the sealed mount succeeded");
        }

        Assert.Equal(0, lxc.Exec("mount", "-o", "remount,bind,rw", "/mnt/hp/control").ExitCode);
        Assert.Equal(0, lxc.Exec("mount", "-o", "remount,bind,ro", "/mnt/hp/control").ExitCode);

        Dictionary<string, string> outcome = SealSpike.Attack(lxc, "/mnt/hp", output);
        SealSpike.AssertSealed(outcome, "sealed");
        SealSpike.AssertControlWritable(outcome);
        SealSpike.AssertTopCanBeRemoved(outcome);

        Assert.Equal("sealed host file\n", File.ReadAllText(Path.Combine(sealedTree.Data, "hello.txt")));
        Assert.Equal(["hello.txt"], Directory.GetFileSystemEntries(sealedTree.Data).Select(Path.GetFileName));
        Assert.StartsWith("control host file\nwritten from inside the container\n", File.ReadAllText(Path.Combine(controlTree.Data, "hello.txt")));
    }

    [SkippableFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void EachWayASealCannotBeMadeHasItsOwnErrorAndAttachesNothing()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        using var scenario = Scenario.Prepare();
        var (privileged, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-sle-"), unprivileged: true));
        scenario.Begin();
        var vars = Vars(("n", lxc.Name), ("p", lxc.LxcPath), ("src", tree.Data), ("priv", privileged.Pid));

        // Not read-only: nothing to lock. The item fails; the rest of the pipeline goes on.
        PipelineResult writable = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
try { New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/w -CreateTarget -Seal } finally { $ct.Dispose() }", vars);
        ErrorRecord notReadOnly = Assert.Single(writable.Errors);
        Assert.Equal($"SealNeedsReadOnly,{MoveCommand}", notReadOnly.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, notReadOnly.CategoryInfo.Category);
        Assert.Equal(tree.Data, notReadOnly.TargetObject);
        Assert.Contains("-ReadOnly", notReadOnly.ErrorDetails.RecommendedAction);
        Assert.False(Path.Exists(Path.Combine(lxc.RootfsPath, "mnt", "w")));

        // -WhatIf says that it would seal, and does nothing.
        PipelineResult whatIf = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
try { New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/w -CreateTarget -Seal -WhatIf } finally { $ct.Dispose() }", vars);
        Assert.True(whatIf.Errors.Count == 0, whatIf.Describe());
        Assert.Contains("sealed first: copied by mhp-seal through user namespace", ps.HostOutput);
        Assert.False(Path.Exists(Path.Combine(lxc.RootfsPath, "mnt", "w")));

        // A container in the host's user namespace: its root could clear anything, so -Seal refuses before any item.
        PipelineResult hostUserNs = ps.Run(@"
$ct = Get-ContainerNamespace -ProcessId $priv
try { New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/w -CreateTarget -Seal } finally { $ct.Dispose() }", vars);
        ErrorRecord noUserNs = Assert.Single(hostUserNs.Errors);
        Assert.Equal($"SealNeedsOwnUserNamespace,{MoveCommand}", noUserNs.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, noUserNs.CategoryInfo.Category);

        // A helper that others could replace is never run as root.
        string helper = Sealer.HelperPath;
        UnixFileMode mode = File.GetUnixFileMode(helper);
        PipelineResult unsafeHelper;
        try
        {
            File.SetUnixFileMode(helper, mode | UnixFileMode.OtherWrite);
            unsafeHelper = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
try { New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/w -CreateTarget -Seal } finally { $ct.Dispose() }", vars);
        }
        finally
        {
            File.SetUnixFileMode(helper, mode);
        }

        ErrorRecord helperError = Assert.Single(unsafeHelper.Errors);
        Assert.Equal($"SealHelperMissing,{MoveCommand}", helperError.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceUnavailable, helperError.CategoryInfo.Category);
        Assert.Contains("writable by group or others", helperError.Exception.Message);

        // The container exits between the lookup and the seal: the helper's setns answers ESRCH.
        PipelineResult exited = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
$m = New-StagedMount $src -ReadOnly
$ct, $m", vars);
        Assert.True(exited.Errors.Count == 0, exited.Describe());
        lxc.Dispose();
        PipelineResult afterExit = ps.Run("try { $m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/w -CreateTarget -Seal } finally { $ct.Dispose() }");
        ErrorRecord gone = Assert.Single(afterExit.Errors);
        output.WriteLine(gone.ErrorDetails.Message);
        Assert.Equal($"ContainerExited,{MoveCommand}", gone.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, gone.CategoryInfo.Category);
        Assert.Contains("setns", gone.ErrorDetails.Message);
        Assert.Contains("ESRCH", gone.ErrorDetails.Message);
        // The staged mount is untouched by a failed seal (the helper works on a clone of it).
        Assert.Equal("Staged", ps.Run("$m.State").Output.Single().ToString());

        ps.Run("$m.Dispose()");
        Assert.False(Directory.Exists(Path.Combine(privileged.RootfsPath, "mnt", "w")));
    }

    [SkippableFact]
    public void GetMountApiSupportSaysWhetherThisKernelSeals()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;
        PipelineResult result = ps.Run("Get-MountApiSupport -Feature Seal");

        Assert.True(result.Errors.Count == 0, result.Describe());
        PSObject row = Assert.Single(result.Output);
        Assert.Equal(true, row.Properties["Supported"].Value);
        Assert.Contains("mount_setattr(clear RDONLY) on the copy = EPERM (locked)", (string)row.Properties["Probe"].Value);
        Assert.Contains("Move-MountIntoNamespace -Seal", (IEnumerable<string>)row.Properties["UsedBy"].Value);
    }

    private static Dictionary<string, object?> Vars(params (string Name, object? Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);
}
