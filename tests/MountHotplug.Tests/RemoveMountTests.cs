using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Remove-Mount: unplug inside real sandbox containers, refusal of a busy mount, -Lazy, -RemoveTarget.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class RemoveMountTests
{
    private const string Cmd = "MountHotplug.RemoveMountCommand";

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void IdleMountFromThePipelineIsUnpluggedAndItsTargetRemoved(SandboxKind kind)
    {
        using var scenario = Scenario.Start(kind);
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        int before = ContainerView.Mounts(container).Count;

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
$m = New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /srv/plug/data -CreateTarget -PassThru
$m.CreatedPaths -join ','
[System.IO.File]::ReadAllText(""/proc/$ctPid/root/srv/plug/data/hello.txt"")
$m | Remove-Mount -RemoveTarget -Verbose
$m.State
$m.CreatedPaths.Count
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Empty(result.Warnings);
        Assert.Equal(new object[] { "/srv,/srv/plug,/srv/plug/data", tree.Content, "Removed", 0 }, result.Output.Select(o => o.BaseObject));
        Assert.Null(ContainerView.MountAt(container, "/srv/plug/data"));
        Assert.Equal(before, ContainerView.Mounts(container).Count);
        Assert.False(Path.Exists(Path.Combine(container.RootfsPath, "srv")), "-RemoveTarget removes what Move-MountIntoNamespace created");
        string verbose = string.Join("\n", result.Verbose.Select(v => v.Message));
        Assert.Contains("umount2(\"data\", UMOUNT_NOFOLLOW) = 0", verbose);
        Assert.Contains("unlinkat(", verbose);
    }

    [SkippableFact]
    public void PathAndNamespaceOrAnyObjectWithMountPointAndNamespaceBind()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        container.ExecOrThrow("mkdir", "-p", "/mnt/a", "/mnt/b", "/mnt/c");

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
foreach ($t in '/mnt/a', '/mnt/b', '/mnt/c') { New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target $t }
Remove-Mount -Path /mnt/a -Namespace $ct
[pscustomobject]@{ MountPoint = '/mnt/b'; Namespace = $ct } | Remove-Mount
[pscustomobject]@{ Target = '/mnt/c'; Namespace = $ct } | Remove-Mount -RemoveTarget
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        foreach (string t in new[] { "/mnt/a", "/mnt/b", "/mnt/c" })
        {
            Assert.Null(ContainerView.MountAt(container, t));
        }

        // Named by path there is no record of what was created: the directory the container made stays.
        Assert.Contains(result.Warnings, w => w.Message.Contains("no record of what Move-MountIntoNamespace created", StringComparison.Ordinal));
        Assert.True(Directory.Exists(Path.Combine(container.RootfsPath, "mnt", "c")));
    }

    [SkippableFact]
    public void BusyMountIsRefusedNamingWhatHoldsItAndLazyDetachesIt()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };
        ps.Run("$ct = Get-ContainerNamespace $ctPid; $m = New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru", vars);
        Assert.NotNull(ContainerView.MountAt(container, "/mnt/data"));

        // Inside the container: one process holds a file open on the mount, another has its working directory there.
        container.ExecOrThrow("sh", "-c", "sleep 1000 < /mnt/data/hello.txt > /dev/null 2>&1 &");
        container.ExecOrThrow("sh", "-c", "cd /mnt/data && exec sleep 1001 > /dev/null 2>&1 &");
        int holder = WaitForProcess(container, "1000");
        WaitForProcess(container, "1001");

        PipelineResult busy = ps.Run("$m | Remove-Mount");

        var error = Assert.Single(busy.Errors);
        Assert.Equal($"MountBusy,{Cmd}", error.FullyQualifiedErrorId);
        Assert.Equal("ResourceBusy", error.CategoryInfo.Category.ToString());
        string message = error.ErrorDetails!.Message;
        Assert.Contains("'/mnt/data'", message);
        Assert.Contains("is busy, so it was not unmounted", message);
        Assert.Contains($"PID {holder} (sleep, PID ", message);
        Assert.Contains("has /mnt/data/hello.txt open (fd 0)", message);
        Assert.Contains("has its working directory at /mnt/data", message);
        Assert.Contains("EBUSY", message);
        Assert.Contains("-Lazy", error.ErrorDetails.RecommendedAction); // the remedy, printed by ConciseView under the message
        Assert.NotNull(ContainerView.MountAt(container, "/mnt/data"));
        Assert.Equal("Attached", ps.Run("$m.State").Output.Single().BaseObject);

        PipelineResult lazy = ps.Run("$m | Remove-Mount -Lazy; $m.State; $ct.Dispose()");

        Assert.True(lazy.Errors.Count == 0, lazy.Describe());
        Assert.Equal("Removed", lazy.Output.Single().BaseObject);
        string warning = Assert.Single(lazy.Warnings).Message;
        Assert.Contains("/mnt/data was detached lazily (MNT_DETACH)", warning);
        Assert.Contains("released only when the last process using it lets go", warning);
        Assert.Contains($"PID {holder} (sleep", warning);
        Assert.Null(ContainerView.MountAt(container, "/mnt/data"));

        // What "lazy" means, seen from outside: the holder still reads the detached mount's file.
        Assert.Equal(tree.Content, File.ReadAllText($"/proc/{holder}/fd/0"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(container.RootfsPath, "mnt", "data")));
    }

    [SkippableFact]
    public void MountsBelowMakeItBusyToo()
    {
        using var scenario = Scenario.Start();
        var (container, ps) = (scenario.Container, scenario.Session);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
New-StagedMount -FileSystem tmpfs | Move-MountIntoNamespace -Namespace $ct -Target /mnt/outer -CreateTarget
New-StagedMount -FileSystem tmpfs | Move-MountIntoNamespace -Namespace $ct -Target /mnt/outer/inner -CreateTarget
Remove-Mount /mnt/outer -Namespace $ct
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        var error = Assert.Single(result.Errors);
        Assert.Equal($"MountBusy,{Cmd}", error.FullyQualifiedErrorId);
        Assert.Contains("a mount is mounted below it at /mnt/outer/inner", error.ErrorDetails!.Message);
        Assert.NotNull(ContainerView.MountAt(container, "/mnt/outer"));
    }

    public static TheoryData<string, string, string> RefusalCases => new()
    {
        { "Remove-Mount -Path /mnt -Namespace $ct", $"NotMounted,{Cmd}", "is not a mount point" },
        { "Remove-Mount -Path /mnt/nonexistent -Namespace $ct", $"TargetNotFound,{Cmd}", "does not exist" },
        { "Remove-Mount -Path /nonexistent/deeper -Namespace $ct", $"TargetNotFound,{Cmd}", "does not exist" },
        { "Remove-Mount -Path mnt/data -Namespace $ct", $"InvalidTarget,{Cmd}", "absolute path" },
        { "Remove-Mount -Path / -Namespace $ct", $"InvalidTarget,{Cmd}", "root directory" },
        { "Remove-Mount -Path /mnt/link -Namespace $ct", $"TargetIsSymlink,{Cmd}", "symbolic link" },
        { "Remove-Mount -Path '' -Namespace $ct", $"InvalidPath,{Cmd}", "No mount point" },
        { "$s = New-StagedMount $src; try { $s | Remove-Mount } finally { $s.Dispose() }", $"MountNotAttached,{Cmd}", "is staged, not attached" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -Force; $m | Remove-Mount", $"MountChanged,{Cmd}", "not mount" },
    };

    [SkippableTheory]
    [MemberData(nameof(RefusalCases))]
    public void EachRefusalHasItsOwnErrorAndUnmountsNothing(string script, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };
        container.ExecOrThrow("ln", "-s", "/mnt/data", "/mnt/link");
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; $m = New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru", vars).Errors);
        int mountsBefore = ContainerView.Mounts(container).Count;

        PipelineResult result = ps.Run(script, vars);

        var error = Assert.Single(result.Errors, e => e.FullyQualifiedErrorId.EndsWith(Cmd, StringComparison.Ordinal));
        Assert.Equal(expectedId, error.FullyQualifiedErrorId);
        Assert.Contains(expectedText, error.ErrorDetails?.Message ?? error.Exception.Message);
        Assert.False(string.IsNullOrEmpty(error.ErrorDetails?.RecommendedAction), "the error says what to do");
        Assert.Equal(mountsBefore + (script.Contains("-Force", StringComparison.Ordinal) ? 1 : 0), ContainerView.Mounts(container).Count);
        ps.Run("$ct.Dispose()");
    }

    [SkippableFact]
    public void WhatIfDescribesTheUnplugAndDoesNothing()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
$m = New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru
$m | Remove-Mount -Lazy -RemoveTarget -WhatIf
$m.State
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal("Attached", result.Output.Single().BaseObject);
        Assert.NotNull(ContainerView.MountAt(container, "/mnt/data"));
        Assert.Contains("What if: Unmount /mnt/data (mount ", ps.HostOutput);
        Assert.Contains($"of PID {container.Pid} (testinit), lazily (MNT_DETACH", ps.HostOutput);
        Assert.Contains("then remove /mnt/data (created by Move-MountIntoNamespace)", ps.HostOutput);
    }

    [SkippableFact]
    public void NullNamespaceMeansTheCallersOwnNamespace()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;
        string target = Directory.CreateTempSubdirectory("mhp-self-").FullName;
        try
        {
            PipelineResult result = ps.Run(@"
$self = Get-ContainerNamespace $PID 3>$null
try {
    New-StagedMount -FileSystem tmpfs -Source mhp-self | Move-MountIntoNamespace -Namespace $self -Target $t 3>$null
    [System.IO.File]::ReadAllText('/proc/self/mountinfo').Contains(' mhp-self ')
    Remove-Mount -Path $t -Namespace $null
    [System.IO.File]::ReadAllText('/proc/self/mountinfo').Contains(' mhp-self ')
} finally { $self.Dispose() }", new Dictionary<string, object?> { ["t"] = target });

            Assert.True(result.Errors.Count == 0, result.Describe());
            Assert.Equal(new object[] { true, false }, result.Output.Select(o => o.BaseObject));
        }
        finally
        {
            Directory.Delete(target);
        }
    }

    /// <summary>The host PID of the container's "sleep SECONDS" process, once it runs.</summary>
    private static int WaitForProcess(SandboxContainer container, string seconds)
    {
        // Generous: a busy CI machine can take seconds to start a process in the container; a healthy one takes ms.
        int found = 0;
        return Poll.Until(() => (found = Find()) != 0, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10))
            ? found
            : throw new TimeoutException($"sleep {seconds} did not start in the container within 30 s");

        int Find()
        {
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), out int pid))
                {
                    try
                    {
                        string[] argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                        if (argv is ["sleep", var s] && s == seconds
                            && new FileInfo(Path.Combine(dir, "ns", "mnt")).LinkTarget == new FileInfo($"/proc/{container.Pid}/ns/mnt").LinkTarget)
                        {
                            return pid;
                        }
                    }
                    catch (IOException)
                    {
                    }
                }
            }

            return 0;
        }
    }
}
