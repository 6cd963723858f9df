using MountHotplug.Runtimes;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using MountHotplug.Tests.Runtimes;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// A hostile container (root inside its own namespaces, nothing more) poses as the runtime helpers that name lookups read:
/// a static program of its own, run as "systemd-nspawn -M NAME" and as "[lxc monitor] PATH NAME", whose PATH lies in the
/// container's rootfs and holds a FIFO as NAME/config (lxc-info would block on it). Before the fix, a lookup took the
/// forged nspawn's child for the container, or hung 30 s on the FIFO and then dropped LXC. Now the real container wins, a
/// name only the forger claims is not found, and the FIFO is never opened.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class HostileLookupTests(ITestOutputHelper output)
{
    private const string GetNs = "MountHotplug.GetContainerNamespaceCommand";

    [SkippableFact]
    public void ForgedNspawnAndLxcMonitorsInAContainerNeverWinALookup()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        RuntimeSupport.Require("/usr/bin/systemd-nspawn", "systemd-container");
        using var scenario = Scenario.Prepare();
        var (hostile, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        string forge = Forger.Build(tree.Root);
        string lxcName = RuntimeSupport.RandomName("mhp-web-");
        string nspawnName = RuntimeSupport.RandomName("mhp-web-");
        string onlyForged = RuntimeSupport.RandomName("mhp-web-");
        LxcContainer lxc = scenario.Own(LxcContainer.Start(null, lxcName, unprivileged: false));
        NspawnContainer nspawn = scenario.Own(NspawnContainer.Start(nspawnName));
        scenario.Begin();

        var forged = new Forger(hostile, forge);
        foreach (string name in new[] { lxcName, nspawnName, onlyForged })
        {
            forged.Nspawn(name);
            forged.LxcMonitor(name);
        }

        Assert.True(Poll.Until(() => forged.Running() >= 12, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20)),
            $"the forgeries did not start: {forged.Running()} processes");

        // Each real container is found as itself: its runtime, its init. The times are printed for docs/reliability.md.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        AssertFound(ps, lxcName, "Lxc", lxc.Pid);
        output.WriteLine($"lookup of the real LXC container beside 6 forgeries: {clock.ElapsedMilliseconds} ms");
        clock.Restart();
        AssertFound(ps, nspawnName, "Nspawn", nspawn.Pid);
        output.WriteLine($"lookup of the real nspawn container beside 6 forgeries: {clock.ElapsedMilliseconds} ms");

        // A name only the forger claims is no container, whichever runtime is asked.
        foreach (string runtime in new[] { string.Empty, "-Runtime Nspawn", "-Runtime Lxc" })
        {
            clock.Restart();
            PipelineResult none = ps.Run($"Get-ContainerNamespace -Name $n {runtime} -Verbose", Vars(("n", onlyForged)));
            Assert.True(none.ErrorIds.SequenceEqual(new[] { $"ContainerNotFound,{GetNs}" }), $"{runtime}: {none.Describe()}");
            Assert.DoesNotContain(none.Output, o => o.BaseObject is ContainerNamespace);
            output.WriteLine($"lookup of a name only forged {runtime}: {clock.ElapsedMilliseconds} ms");
        }

        // The host data goes into the real container, not the forger's.
        PipelineResult plug = ps.Run(@"
$ct = Get-ContainerNamespace -Name $n
try { New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/secret -CreateTarget } finally { $ct.Dispose() }",
            Vars(("n", lxcName), ("src", tree.Data)));
        Assert.True(plug.Errors.Count == 0, plug.Describe());
        Assert.Equal(tree.Content, lxc.ExecOrThrow("cat", "/mnt/secret/hello.txt"));
        Assert.NotEqual(0, hostile.Exec("test", "-e", "/mnt/secret").ExitCode);

        // No host tool ever opened the forger's FIFO: its writer is still blocked in open(2).
        Assert.Empty(forged.FifosOpened());
    }

    /// <summary>
    /// lxc-info asks a container's command socket, an abstract unix socket named after its lxcpath and name. A container
    /// without a network namespace of its own can bind it for a container that is defined but stopped, and answer
    /// RUNNING with a PID of its choosing (here its own init's). lxc-info believes it; the lookup does not, because no
    /// host LXC monitor is that PID's parent.
    /// </summary>
    [SkippableFact]
    public void AForgedLxcCommandSocketCannotNameAnInit()
    {
        RuntimeSupport.Require(LxcContainer.Tool, LxcContainer.Package);
        using var scenario = Scenario.Start();
        var (hostile, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        string forge = Forger.Build(tree.Root);
        string lxcPath = Path.Combine(tree.Root, "lxcpath");
        string name = RuntimeSupport.RandomName("mhp-stopped-");
        Directory.CreateDirectory(Path.Combine(lxcPath, name, "rootfs"));
        File.WriteAllText(Path.Combine(lxcPath, name, "config"), $"lxc.uts.name = {name}\nlxc.rootfs.path = dir:{lxcPath}/{name}/rootfs\n");
        ChildProcess.RunOrThrow(["chmod", "0755", tree.Root, lxcPath]);

        new Forger(hostile, forge).LxcCommandSocket(lxcPath, name, hostile.Pid);
        string socket = $"@{lxcPath}/{name}/command";
        Assert.True(Poll.Until(() => File.ReadAllText("/proc/net/unix").Contains(socket, StringComparison.Ordinal), TimeSpan.FromSeconds(10),
            TimeSpan.FromMilliseconds(20)), $"the forged socket {socket} was not bound");

        // The forgery is real: LXC's own tool takes the hostile container's init for the container.
        Assert.Equal(hostile.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ChildProcess.RunOrThrow(["lxc-info", "-P", lxcPath, "-n", name, "-pH"]).Trim());

        PipelineResult result = ps.Run("Get-ContainerNamespace -Name $n -LxcPath $p -Verbose", Vars(("n", name), ("p", lxcPath)));
        Assert.Equal(new[] { $"ContainerNotRunning,{GetNs}" }, result.ErrorIds);
        Assert.DoesNotContain(result.Output, o => o.BaseObject is ContainerNamespace);
        Assert.Contains(result.Verbose, v => v.Message.Contains("no child of the host's LXC monitor", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void ASocketThatIsNotTheHostsLxdDaemonCannotNameAnInit()
    {
        // Whatever listens on LXD's socket path answers for LXD only if it is the host's own lxd binary: here the test
        // process listens (root, the host's namespaces, a root-owned directory), and names a sandbox's init as "p1".
        using var scenario = Scenario.Start();
        var (victim, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        string answer = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
            + $$$"""{"type":"sync","metadata":{"status":"Running","pid":{{{victim.Pid}}}}}""";
        using (var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Unspecified))
        {
            listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(tree.Root, "unix.socket")));
            listener.Listen(4);
            // The lookup hangs up before it asks (the listener is checked first): the forged answer may never be sent.
            Task served = Task.Run(() =>
            {
                try
                {
                    using var peer = listener.Accept();
                    peer.Receive(new byte[4096]);
                    peer.Send(System.Text.Encoding.ASCII.GetBytes(answer));
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
                {
                }
            });
            ps.Run("$env:LXD_DIR = $d", Vars(("d", tree.Root)));
            try
            {
                PipelineResult result = ps.Run("Get-ContainerNamespace -Name p1 -Runtime Lxd");
                var error = Assert.Single(result.Errors);
                Assert.Equal($"RuntimeUnavailable,{GetNs}", error.FullyQualifiedErrorId);
                Assert.Contains("is not the host's LXD daemon: its executable is none of /usr/bin/lxd", error.ErrorDetails!.Message);
                Assert.DoesNotContain(result.Output, o => o.BaseObject is ContainerNamespace);
            }
            finally
            {
                ps.Run("$env:LXD_DIR = $null");
            }

            listener.Dispose();
            Assert.True(served.Wait(TimeSpan.FromSeconds(30)), "the forged listener did not end");
        }
    }

    [SkippableFact]
    public void EvidenceFromAContainerRootOrAForeignOwnerIsNotTrusted()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (hostile, tree) = (scenario.Container, scenario.Tree);

        // The lxcpath of a forged monitor: inside the container's rootfs, which the container's root controls.
        hostile.ExecOrThrow("mkdir", "-p", "/evil/web");
        Assert.False(HostEvidence.IsTrustedDirectory(hostile.RootfsPath + "/evil", out string why));
        Assert.Contains("root directory of a container", why);
        Assert.True(HostEvidence.IsTrustedDirectory("/var/lib", out why), why);

        string foreign = Path.Combine(tree.Root, "foreign");
        Directory.CreateDirectory(foreign);
        ChildProcess.RunOrThrow(["chown", "100000:100000", foreign]);
        Assert.False(HostEvidence.IsTrustedDirectory(foreign, out why));
        Assert.Contains("uid 100000", why);
        string open = Path.Combine(tree.Root, "open");
        Directory.CreateDirectory(open);
        ChildProcess.RunOrThrow(["chmod", "0777", open]);
        Assert.False(HostEvidence.IsTrustedDirectory(open, out why));
        string link = Path.Combine(tree.Root, "link");
        File.CreateSymbolicLink(link, "/var/lib");
        Assert.False(HostEvidence.IsTrustedDirectory(link, out why));

        // The init process of a container is no host helper, whatever binary it runs.
        Assert.False(HostEvidence.IsHostHelper(hostile.Pid, new[] { "/bin/busybox" }, out why));
        Assert.Contains("pid namespace", why);
        Assert.True(HostEvidence.IsHostHelper(Environment.ProcessId, new[] { Environment.ProcessPath! }, out why), why);

        // State files: a runc state root holding a FIFO and a file of another owner that names a live process.
        string stateRoot = Path.Combine(tree.Root, "runc");
        string state = $"{{\"init_process_pid\":{Environment.ProcessId},\"init_process_start\":{ProcFs.LiveStartTime(Environment.ProcessId)}}}";
        foreach (string id in new[] { "fifo", "foreign", "good" })
        {
            Directory.CreateDirectory(Path.Combine(stateRoot, id));
        }

        ChildProcess.RunOrThrow(["mkfifo", Path.Combine(stateRoot, "fifo", "state.json")]);
        File.WriteAllText(Path.Combine(stateRoot, "foreign", "state.json"), state);
        ChildProcess.RunOrThrow(["chown", "100000:100000", Path.Combine(stateRoot, "foreign", "state.json")]);
        File.WriteAllText(Path.Combine(stateRoot, "good", "state.json"), state);
        var runc = new RuncResolver(stateRoot);

        // Run where a blocking open would show as a hang rather than hang the suite.
        Task<IReadOnlyList<ContainerCandidate>> listing = Task.Run(runc.List);
        Assert.True(listing.Wait(TimeSpan.FromSeconds(30)), "reading a FIFO state file blocked");
        Assert.Equal(new[] { "good" }, listing.Result.Select(c => c.Name));
        Assert.Empty(runc.Find("fifo").Running);
        Assert.Empty(runc.Find("foreign").Running);
    }

    private static void AssertFound(PowerShellSession ps, string name, string runtime, int pid)
    {
        PipelineResult found = ps.Run("$c = Get-ContainerNamespace -Name $n -Verbose; [string]$c.Runtime; $c.ProcessId; $c.Dispose()", Vars(("n", name)));
        Assert.True(found.Errors.Count == 0, found.Describe());
        Assert.Equal(new object[] { runtime, pid }, found.Output.Select(o => o.BaseObject));

        // The forgeries were seen, and said to be ignored: the lookup did not just miss them.
        Assert.Contains(found.Verbose, v => v.Message.Contains($"claims to be systemd-nspawn of machine '{name}': ignored", StringComparison.Ordinal));
        Assert.Contains(found.Verbose, v => v.Message.Contains($"claims to be the LXC monitor of '{name}'", StringComparison.Ordinal)
            && v.Message.Contains("ignored", StringComparison.Ordinal));
    }

    private static Dictionary<string, object?> Vars(params (string Name, object? Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    /// <summary>tests/hostile/forge.c, built static, run inside a hostile sandbox container.</summary>
    private sealed class Forger(SandboxContainer container, string binary)
    {
        private readonly List<string> _fifos = new();

        internal static string Build(string directory)
        {
            string output = Path.Combine(directory, "forge");
            ChildProcess.RunOrThrow(["cc", "-static", "-O2", "-Wall", "-Werror", "-o", output, Path.Combine(AppContext.BaseDirectory, "hostile", "forge.c")]);
            return output;
        }

        /// <summary>"systemd-nspawn -M NAME …": a copy of the forger named systemd-nspawn, so that its comm is that too.</summary>
        internal void Nspawn(string name)
        {
            Install("/usr/bin/systemd-nspawn");
            Background($"/usr/bin/systemd-nspawn -M {name} -D /srv/{name} --register=no /sbin/init");
        }

        /// <summary>"[lxc monitor] /evil NAME", with /evil/NAME/config a FIFO whose writer marks the moment a reader opens it.</summary>
        internal void LxcMonitor(string name)
        {
            Install("/usr/local/bin/forge");
            string hostPath = container.RootfsPath + "/evil";
            container.ExecOrThrow("mkdir", "-p", $"/evil/{name}");
            container.ExecOrThrow("mkfifo", $"/evil/{name}/config");
            _fifos.Add(name);
            Background($"echo lxc.uts.name={name} > /evil/{name}/config; touch /evil/{name}/opened");
            Background($"/usr/local/bin/forge lxc-monitor {hostPath} {name}");
        }

        /// <summary>Answers on the command socket of LXC container <paramref name="name"/> in <paramref name="lxcPath"/>: RUNNING, init <paramref name="pid"/>.</summary>
        internal void LxcCommandSocket(string lxcPath, string name, int pid)
        {
            Install("/usr/local/bin/forge");
            Background($"/usr/local/bin/forge lxc-command {lxcPath} {name} {pid}");
        }

        /// <summary>How many processes of the container run the forger (each forgery is a parent and its child).</summary>
        internal int Running() =>
            container.ExecOrThrow("sh", "-c", "for p in /proc/[0-9]*; do readlink $p/exe; done 2>/dev/null | grep -c -e systemd-nspawn -e forge || true")
                .Trim() is var count && int.TryParse(count, out int n) ? n : 0;

        /// <summary>The names whose FIFO some reader opened.</summary>
        internal IReadOnlyList<string> FifosOpened() => _fifos.Where(n => container.Exec("test", "-e", $"/evil/{n}/opened").ExitCode == 0).ToList();

        private void Install(string path)
        {
            string hostCopy = container.RootfsPath + path;
            if (!File.Exists(hostCopy))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(hostCopy)!);
                File.Copy(binary, hostCopy);
                ChildProcess.RunOrThrow(["chmod", "0755", hostCopy]);
            }
        }

        private void Background(string command) =>
            container.ExecOrThrow("sh", "-c", $"setsid sh -c '{command}' </dev/null >/dev/null 2>&1 &");
    }
}
