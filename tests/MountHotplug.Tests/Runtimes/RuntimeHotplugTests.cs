using System.Globalization;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// Real containers of every runtime, found by name, hot-plugged into, and read from inside with the runtime's own exec
/// command. Each test hands the containers it starts to its <see cref="Scenario"/>, which removes them (also on failure)
/// and checks that this process's and the host's mount tables are as before.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class RuntimeHotplugTests
{
    internal const string GetNs = "MountHotplug.GetContainerNamespaceCommand";

    // Finds the container by name, plugs $src read-only at /mnt/hotplug, and reports what it found.
    private const string HotplugByName = @"
$ct = if ($runtime) { Get-ContainerNamespace -Name $name -Runtime $runtime -Verbose } else { Get-ContainerNamespace -Name $name -Verbose }
try {
    New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/hotplug -CreateTarget
    [string]$ct.Runtime; $ct.Name; $ct.ProcessId
} finally { $ct.Dispose() }";

    [SkippableFact]
    public void LxcContainersInTheDefaultLxcPathAndProxmoxCtIds()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        string ctId = RandomCtId();
        LxcContainer lxc = scenario.Own(LxcContainer.Start("/var/lib/lxc", RuntimeSupport.RandomName("mhp-lxc-"), unprivileged: false));
        LxcContainer pve = scenario.Own(LxcContainer.Start("/var/lib/lxc", ctId, unprivileged: false));
        scenario.Begin();
        AssertHotplug(ps, lxc, null, "Lxc", tree);
        AssertHotplug(ps, pve, "Proxmox", "Proxmox", tree);

        // A Proxmox CT ID is a number: an LXC name is not one, whatever the lxcpath.
        PipelineResult notCt = ps.Run("Get-ContainerNamespace -Name $n -Runtime Proxmox", Vars(("n", lxc.Name)));
        Assert.Equal(new[] { $"ContainerNotFound,{GetNs}" }, notCt.ErrorIds);
    }

    [SkippableFact]
    public void AnLxcStartHostHookPlugsInWhatWasStagedForTheContainer()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        string name = RuntimeSupport.RandomName("mhp-hook-");
        string hook = Path.Combine(tree.Root, "mhp-plug-staged");

        // The hook of about_MountHotplug, with the mhp of this checkout: every mount staged for the container
        // (-Container NAME) is plugged in at /mnt/<stage name> before the container's init starts. LXC runs hooks with
        // HOME=/nonexistent, where PowerShell would make its cache directories.
        File.WriteAllText(hook, $$"""
            #!/bin/sh
            export HOME={{Path.Combine(tree.Root, "home")}}
            exec {{Mhp.Script}} -Command '
            $ct = Get-ContainerNamespace -ProcessId $env:LXC_PID
            Get-StagedMount -Container $env:LXC_NAME | ForEach-Object {
                $_ | Move-MountIntoNamespace -Namespace $ct -Target "/mnt/$($_.StageName)" -CreateTarget
            }
            if (-not $?) { exit 1 }'

            """);
        ChildProcess.RunOrThrow(["chmod", "0755", tree.Root, hook]);
        try
        {
            PipelineResult staged = ps.Run("New-StagedMount $src -ReadOnly -StageName media -Container $n | ForEach-Object Dispose",
                Vars(("src", tree.Data), ("n", name)));
            Assert.True(staged.Errors.Count == 0, staged.Describe());
            using (var lxc = LxcContainer.Start(null, name, unprivileged: false, $"lxc.hook.start-host = {hook}"))
            {
                Assert.Equal(tree.Content, lxc.ExecOrThrow("cat", "/mnt/media/hello.txt"));
                Assert.Contains("ro", lxc.ExecOrThrow("sh", "-c", "grep ' /mnt/media ' /proc/self/mountinfo").Split(' ')[5].Split(','));
            }
        }
        finally
        {
            ps.Run("Remove-StagedMount -Container $n", Vars(("n", name)));
        }

        Assert.False(MountHotplug.Staging.StageStore.IsMounted);
    }

    [SkippableFact]
    public void RuncContainerByName() => OciByName("runc", "Runc");

    [SkippableFact]
    public void CrunContainerByName() => OciByName("crun", "Crun");

    [SkippableFact]
    public void PodmanContainerByName()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        PodmanContainer podman = scenario.Own(PodmanContainer.Start(RuntimeSupport.RandomName("mhp-pod-")));
        scenario.Begin();
        ps.Run("$env:CONTAINERS_CONF = $conf; $env:CONTAINERS_STORAGE_CONF = $storage",
            Vars(("conf", podman.Environment["CONTAINERS_CONF"]), ("storage", podman.Environment["CONTAINERS_STORAGE_CONF"])));
        try
        {
            // podman drives runc, whose state directory also lists the container (by its id): one container, reported as podman's.
            AssertHotplug(ps, podman, null, "Podman", tree);
        }
        finally
        {
            ps.Run("$env:CONTAINERS_CONF = $null; $env:CONTAINERS_STORAGE_CONF = $null");
        }
    }

    [SkippableFact]
    public void DockerContainerByNameThroughDockerHost()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        DockerDaemon daemon = scenario.Own(DockerDaemon.Start());
        DockerContainer docker = scenario.Own(DockerContainer.Start(daemon, RuntimeSupport.RandomName("mhp-dock-")));
        scenario.Begin();

        // Without DOCKER_HOST there is no daemon to ask here (no /var/run/docker.sock): said, not hidden.
        PipelineResult noHost = ps.Run("Get-ContainerNamespace -Name $n -Runtime Docker", Vars(("n", docker.Name)));
        var unavailable = Assert.Single(noHost.Errors);
        Assert.Equal($"RuntimeUnavailable,{GetNs}", unavailable.FullyQualifiedErrorId);
        Assert.Contains("DOCKER_HOST", unavailable.ErrorDetails!.Message + unavailable.ErrorDetails.RecommendedAction);

        ps.Run("$env:DOCKER_HOST = $h", Vars(("h", daemon.Host)));
        try
        {
            AssertHotplug(ps, docker, null, "Docker", tree);
        }
        finally
        {
            ps.Run("$env:DOCKER_HOST = $null");
        }
    }

    [SkippableFact]
    public void NspawnContainerByNameFromTheProcessTree()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        NspawnContainer nspawn = scenario.Own(NspawnContainer.Start(RuntimeSupport.RandomName("mhp-nsp-")));
        scenario.Begin();
        AssertHotplug(ps, nspawn, null, "Nspawn", tree);
    }

    [SkippableFact]
    public void UnprivilegedLxcWithoutIdMapShowsNobodyAndRefusesWrites()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-unp-"), unprivileged: true));
        scenario.Begin();

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p
try {
    $ct.HasOwnUserNamespace
    New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/plain -CreateTarget
} finally { $ct.Dispose() }", Vars(("n", lxc.Name), ("p", lxc.LxcPath), ("src", tree.Data)));

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(true, result.Output.Single().BaseObject);
        Assert.Contains(result.Warnings, w => w.Message.Contains("will show as nobody (65534)") && w.Message.Contains("-IdMap"));
        Assert.Equal("65534 65534\n", lxc.ExecOrThrow("stat", "-c", "%u %g", "/mnt/plain/hello.txt"));
        ExecResult write = lxc.Exec("sh", "-c", "echo x > /mnt/plain/new.txt");
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Permission denied", write.StandardError);
        Assert.False(File.Exists(Path.Combine(tree.Data, "new.txt")));

        // -CreateTarget made /mnt/plain for the container's root (host 100000), as Proxmox does.
        var created = new FileInfo(Path.Combine(lxc.RootfsPath, "mnt", "plain"));
        Assert.Equal((LxcContainer.IdBase, LxcContainer.IdBase), Owner(created.FullName));
    }

    [SkippableFact]
    public void UnprivilegedLxcWithIdMapIsOwnedAndWritableByTheContainersRoot()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-idm-"), unprivileged: true));
        scenario.Begin();

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -LxcPath $p -Runtime Lxc
try {
    $m = New-StagedMount $src -IdMap $ct
    $m.IdMapped
    $m | Move-MountIntoNamespace -Namespace $ct -Target /srv/shared -CreateTarget
    New-StagedMount $single -IdMap ""/proc/$($ct.ProcessId)/ns/user"" | Move-MountIntoNamespace -Namespace $ct -Target /etc/app.conf -CreateTarget
} finally { $ct.Dispose() }", Vars(("n", lxc.Name), ("p", lxc.LxcPath), ("src", tree.Data), ("single", tree.SingleFile)));

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(true, result.Output.Single().BaseObject);
        Assert.DoesNotContain(result.Warnings, w => w.Message.Contains("nobody"));
        Assert.Equal("0 0\n", lxc.ExecOrThrow("stat", "-c", "%u %g", "/srv/shared/hello.txt"));
        Assert.Equal("0 0\n", lxc.ExecOrThrow("stat", "-c", "%u %g", "/etc/app.conf"));
        Assert.Equal(tree.Content, lxc.ExecOrThrow("cat", "/srv/shared/hello.txt"));

        // The container's root writes, and the file lands on the host with the host's ids.
        lxc.ExecOrThrow("sh", "-c", "echo from-inside > /srv/shared/written.txt && mkdir /srv/shared/dir");
        string written = Path.Combine(tree.Data, "written.txt");
        Assert.Equal("from-inside\n", File.ReadAllText(written));
        Assert.Equal((0u, 0u), Owner(written));
        Assert.Equal((0u, 0u), Owner(Path.Combine(tree.Data, "dir")));
        Assert.Equal((LxcContainer.IdBase, LxcContainer.IdBase), Owner(Path.Combine(lxc.RootfsPath, "srv", "shared")));
    }

    [SkippableFact]
    public void IdMapIsRefusedClearlyWhereItCannotWork()
    {
        using var scenario = Scenario.Prepare();
        var (privileged, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-idx-"), unprivileged: true));
        scenario.Begin();

        PipelineResult result = ps.Run(@"
$u = Get-ContainerNamespace -Name $n -LxcPath $p
$h = Get-ContainerNamespace -ProcessId $hostPid
New-StagedMount /proc -IdMap $u
New-StagedMount $src -IdMap $h
New-StagedMount $src -IdMap /proc/self/ns/mnt
New-StagedMount $src -IdMap $src
New-StagedMount $src -IdMap /nonexistent/ns/user
$u.Dispose(); $h.Dispose()", Vars(("n", lxc.Name), ("p", lxc.LxcPath), ("src", tree.Data), ("hostPid", privileged.Pid)));

        Assert.Equal(new[]
        {
            "IdMapNotSupported,MountHotplug.NewStagedMountCommand",
            "IdMapInitialNamespace,MountHotplug.NewStagedMountCommand",
            "IdMapNotUserNamespace,MountHotplug.NewStagedMountCommand",
            "IdMapNotUserNamespace,MountHotplug.NewStagedMountCommand",
            "IdMapNotUserNamespace,MountHotplug.NewStagedMountCommand",
        }, result.ErrorIds);
        Assert.Contains("proc at /proc", result.Errors[0].ErrorDetails!.Message);
        Assert.Contains("mount namespace, not a user namespace", result.Errors[2].ErrorDetails!.Message);

        // The object of an -IdMap problem is what -IdMap was given, and a missing file is not found, not a bad argument.
        Assert.IsType<ContainerNamespace>(result.Errors[1].TargetObject);
        Assert.Equal("/proc/self/ns/mnt", result.Errors[2].TargetObject);
        Assert.Equal(tree.Data, result.Errors[3].TargetObject);
        Assert.DoesNotContain("the user namespace at", result.Errors[3].ErrorDetails!.Message.Split("failed")[0]);
        Assert.Equal((System.Management.Automation.ErrorCategory.ObjectNotFound, "/nonexistent/ns/user"), (result.Errors[4].CategoryInfo.Category, result.Errors[4].TargetObject));
        Assert.Empty(result.Output);
    }

    [SkippableFact]
    public void AnAmbiguousNameListsTheCandidatesAndRuntimeChoosesOne()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var ps = scenario.Session;
        string name = RuntimeSupport.RandomName("mhp-dup-");
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, name, unprivileged: false));
        OciContainer runc = scenario.Own(OciContainer.Start("runc", name));
        scenario.Begin();

        PipelineResult ambiguous = ps.Run("Get-ContainerNamespace -Name $n", Vars(("n", name)));
        var error = Assert.Single(ambiguous.Errors);
        Assert.Equal($"AmbiguousContainerName,{GetNs}", error.FullyQualifiedErrorId);
        Assert.Equal("InvalidArgument", error.CategoryInfo.Category.ToString());
        Assert.Contains($"Lxc '{name}' (PID {lxc.Pid}", error.ErrorDetails!.Message);
        Assert.Contains($"Runc '{name}' (PID {runc.Pid}", error.ErrorDetails.Message);
        Assert.Contains("-Runtime", error.ErrorDetails.RecommendedAction); // the hint, which ConciseView prints under the message

        PipelineResult chosen = ps.Run("$c = Get-ContainerNamespace -Name $n -Runtime Runc; $c.ProcessId; $c.Dispose()", Vars(("n", name)));
        Assert.Equal(runc.Pid, chosen.Output.Single().BaseObject);
    }

    [SkippableFact]
    public void WithoutArgumentsItListsTheRunningContainersAndNameCompletesThem()
    {
        using var scenario = Scenario.Prepare(containers: []);
        var ps = scenario.Session;
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, RuntimeSupport.RandomName("mhp-lst-"), unprivileged: true));
        OciContainer runc = scenario.Own(OciContainer.Start("runc", RuntimeSupport.RandomName("mhp-lst-")));
        scenario.Begin();

        PipelineResult list = ps.Run("Get-ContainerNamespace | ForEach-Object { '{0}|{1}|{2}|{3}|{4}' -f $_.Runtime, $_.Name, $_.ProcessId, $_.MountNamespaceId, $_.HasOwnUserNamespace; $_.Dispose() }");
        Assert.True(list.Errors.Count == 0, list.Describe());
        var rows = list.Output.Select(o => (string)o.BaseObject).ToList();
        Assert.Contains($"Lxc|{lxc.Name}|{lxc.Pid}|{MountNamespace(lxc.Pid)}|True", rows);
        Assert.Contains($"Runc|{runc.Name}|{runc.Pid}|{MountNamespace(runc.Pid)}|False", rows);

        IReadOnlyList<string> completion = ps.Complete("Get-ContainerNamespace -Name mhp-lst");
        Assert.Contains(lxc.Name, completion);
        Assert.Contains(runc.Name, completion);
        Assert.Equal(new[] { runc.Name }, ps.Complete("Get-ContainerNamespace -Runtime Runc -Name mhp-lst"));
    }

    private void OciByName(string runtime, string expected)
    {
        using var scenario = Scenario.Prepare(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        OciContainer oci = scenario.Own(OciContainer.Start(runtime, RuntimeSupport.RandomName($"mhp-{runtime}-")));
        scenario.Begin();
        AssertHotplug(ps, oci, null, expected, tree);
        AssertHotplug(ps, oci, expected, expected, tree, "/mnt/again");
    }

    /// <summary>Resolves the container by name, plugs tree.Data in read-only and reads it back with the runtime's exec.</summary>
    internal static void AssertHotplug(PowerShellSession ps, RuntimeContainer container, string? runtime, string expectedRuntime, TempTree tree,
        string target = "/mnt/hotplug")
    {
        PipelineResult result = ps.Run(HotplugByName.Replace("/mnt/hotplug", target, StringComparison.Ordinal),
            Vars(("name", container.Name), ("runtime", runtime), ("src", tree.Data)));
        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(new object[] { expectedRuntime, container.Name, container.Pid }, result.Output.Select(o => o.BaseObject));
        if (runtime is null)
        {
            Assert.Contains(result.Verbose, v => v.Message.Contains($"matched by {expectedRuntime}", StringComparison.Ordinal));
        }

        Assert.Contains(result.Verbose, v => v.Message.StartsWith($"pidfd_open({container.Pid}, 0)", StringComparison.Ordinal) && v.Message.Contains("asking"));
        Assert.Equal(tree.Content, container.ExecOrThrow("cat", target + "/hello.txt"));
        ExecResult write = container.Exec("sh", "-c", $"echo x > {target}/new.txt");
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Read-only file system", write.StandardError);
    }

    internal static Dictionary<string, object?> Vars(params (string Name, object? Value)[] values) =>
        values.ToDictionary(v => v.Name, v => v.Value);

    internal static (uint Uid, uint Gid) Owner(string path)
    {
        using SafePathHandle h = MountSyscalls.Open(path, OpenFlags.Path | OpenFlags.NoFollow);
        StatxInfo info = MountSyscalls.Statx(h, path);
        return (info.Uid, info.Gid);
    }

    private static ulong MountNamespace(int pid) =>
        ulong.Parse(new FileInfo($"/proc/{pid}/ns/mnt").LinkTarget!.Trim("mnt:[]".ToCharArray()), CultureInfo.InvariantCulture);

    private static string RandomCtId() =>
        (900000 + System.Security.Cryptography.RandomNumberGenerator.GetInt32(99999)).ToString(CultureInfo.InvariantCulture);
}
