using System.Globalization;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using static MountHotplug.Tests.Runtimes.RuntimeHotplugTests;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// LXD containers found by the names their users give them, through the daemon's REST socket, and hot-plugged into;
/// a daemon that is gone, or does not answer, is said to be so.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class LxdHotplugTests(LxdFixture lxd) : IClassFixture<LxdFixture>
{
    [SkippableFact]
    public void LxdContainersByNameInTheDefaultAndAnotherProject()
    {
        LxdDaemon daemon = lxd.Daemon; // the class's: started before the scenario, which it outlives
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        WithLxdDir(ps, daemon.Directory, () =>
        {
            // Without -Runtime liblxc's monitor (Lxc) knows the default project's container too: one container, LXD's.
            AssertHotplug(ps, lxd.Unprivileged, null, "Lxd", tree);
            AssertHotplug(ps, lxd.Privileged, "Lxd", "Lxd", tree);
            AssertHotplug(ps, lxd.InProject, "Lxd", "Lxd", tree);

            // -Project says what "PROJECT:" does; liblxc's own name for it (PROJECT_NAME) is no LXD name.
            PipelineResult byProject = ps.Run("$c = Get-ContainerNamespace -Name $n -Project $p; $c.Name; $c.ProcessId; $c.Dispose()",
                Vars(("n", lxd.InProject.InstanceName), ("p", lxd.InProject.Project)));
            Assert.True(byProject.Errors.Count == 0, byProject.Describe());
            Assert.Equal(new object[] { lxd.InProject.Name, lxd.InProject.Pid }, byProject.Output.Select(o => o.BaseObject));
            PipelineResult liblxcName = ps.Run("Get-ContainerNamespace -Name $n -Runtime Lxd",
                Vars(("n", $"{lxd.InProject.Project}_{lxd.InProject.InstanceName}")));
            Assert.Equal(new[] { $"ContainerNotFound,{GetNs}" }, liblxcName.ErrorIds);

            PipelineResult list = ps.Run("Get-ContainerNamespace -Runtime Lxd | ForEach-Object { '{0}|{1}|{2}' -f $_.Runtime, $_.Name, $_.ProcessId; $_.Dispose() }");
            Assert.True(list.Errors.Count == 0, list.Describe());
            Assert.Equal(new[] { lxd.Unprivileged, lxd.Privileged, lxd.InProject }.Select(c => $"Lxd|{c.Name}|{c.Pid}").Order(StringComparer.Ordinal),
                list.Output.Select(o => (string)o.BaseObject).Order(StringComparer.Ordinal));
        });
    }

    [SkippableFact]
    public void UnprivilegedLxdWithIdMapIsWritableByTheContainersRoot()
    {
        LxdContainer ct = lxd.Unprivileged; // the class's: started before the scenario, which it outlives
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        WithLxdDir(ps, lxd.Daemon.Directory, () =>
        {
            PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n -Runtime Lxd
try {
    $ct.HasOwnUserNamespace
    New-StagedMount $src -IdMap $ct | Move-MountIntoNamespace -Namespace $ct -Target /srv/idmapped -CreateTarget
} finally { $ct.Dispose() }", Vars(("n", ct.Name), ("src", tree.Data)));
            Assert.True(result.Errors.Count == 0, result.Describe());
            Assert.Equal(true, result.Output.Single().BaseObject);
        });

        Assert.Equal("0 0\n", ct.ExecOrThrow("stat", "-c", "%u %g", "/srv/idmapped/hello.txt"));
        ct.ExecOrThrow("sh", "-c", "echo from-lxd > /srv/idmapped/written.txt");
        string written = Path.Combine(tree.Data, "written.txt");
        Assert.Equal("from-lxd\n", File.ReadAllText(written));
        Assert.Equal((0u, 0u), Owner(written));
    }

    [SkippableFact]
    public void ADaemonThatIsGoneOrHungIsSaidToBe()
    {
        LxdContainer ct = lxd.Privileged; // the class's: started before the scenario, which it outlives
        string pid = lxd.Daemon.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var scenario = Scenario.Start(containers: []);
        var (ps, empty) = (scenario.Session, scenario.Tree);
        try
        {
            // No daemon in LXD_DIR: with -Runtime an error that says so; without, LXD is skipped and named.
            ps.Run("$env:LXD_DIR = $d", Vars(("d", empty.Root)));
            PipelineResult absent = ps.Run("Get-ContainerNamespace -Name $n -Runtime Lxd", Vars(("n", ct.Name)));
            var error = Assert.Single(absent.Errors);
            Assert.Equal($"RuntimeUnavailable,{GetNs}", error.FullyQualifiedErrorId);
            Assert.Contains("no LXD daemon", error.ErrorDetails!.Message);
            Assert.Contains(empty.Root, error.ErrorDetails.Message);

            // A stopped (SIGSTOP) daemon accepts the connection and never answers: the lookup gives up, and says so.
            ps.Run("$env:LXD_DIR = $d", Vars(("d", lxd.Daemon.Directory)));
            ChildProcess.RunOrThrow(["kill", "-STOP", pid]);
            PipelineResult hung = ps.Run("Get-ContainerNamespace -Name $n", Vars(("n", ct.Name)));
            error = Assert.Single(hung.Errors);
            Assert.Equal($"RuntimeUnavailable,{GetNs}", error.FullyQualifiedErrorId);
            Assert.Contains("did not answer within", error.ErrorDetails!.Message);
        }
        finally
        {
            ChildProcess.Run(["kill", "-CONT", pid]);
            ps.Run("$env:LXD_DIR = $null");
        }
    }

    /// <summary>The lookup finds the daemon by $LXD_DIR, as the lxc client does; the session's variable is cleared afterwards.</summary>
    private static void WithLxdDir(PowerShellSession ps, string dir, Action body)
    {
        ps.Run("$env:LXD_DIR = $d", Vars(("d", dir)));
        try
        {
            body();
        }
        finally
        {
            ps.Run("$env:LXD_DIR = $null");
        }
    }
}
