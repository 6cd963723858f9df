using MountHotplug.Runtimes;
using MountHotplug.Staging;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>The pure parts of the runtime resolvers: what each runtime writes, as captured from the real tools here.</summary>
public sealed class RuntimeParserTests
{
    [Fact]
    public void LxcInfoGivesStateAndPid()
    {
        LxcInfo running = LxcInfo.Parse("Name:           c1\nState:          RUNNING\nPID:            20033\nCPU use:        0.01 seconds\nBlkIO use:      0 bytes\nMemory use:     644.00 KiB\n");
        Assert.Equal(("c1", "RUNNING", (int?)20033, true), (running.Name, running.State, running.ProcessId, running.IsRunning));
        LxcInfo stopped = LxcInfo.Parse("Name:           c1\nState:          STOPPED\n");
        Assert.Equal(("STOPPED", (int?)null, false), (stopped.State, stopped.ProcessId, stopped.IsRunning));
        Assert.Null(LxcInfo.Parse("nonexist doesn't exist\n").State);
    }

    [Theory]
    [InlineData("[lxc monitor] /var/lib/lxc 101", "/var/lib/lxc", "101")]
    [InlineData("[lxc monitor] /srv/my lxc/path web-1", "/srv/my lxc/path", "web-1")]
    public void LxcMonitorCommandLineNamesPathAndContainer(string commandLine, string path, string name) =>
        Assert.Equal((path, name), LxcMonitor.ParseCommandLine(commandLine));

    [Theory]
    [InlineData("/sbin/init")]
    [InlineData("[lxc monitor]")]
    [InlineData("lxc-start -n 101")]
    public void OtherProcessesAreNoMonitors(string commandLine) => Assert.Null(LxcMonitor.ParseCommandLine(commandLine));

    [Theory]
    [InlineData("p1", null, "default", "p1", "p1", "p1")]
    [InlineData("web:p1", null, "web", "p1", "web_p1", "web:p1")]
    [InlineData("p1", "web", "web", "p1", "web_p1", "web:p1")]
    [InlineData("web:p1", "web", "web", "p1", "web_p1", "web:p1")]
    public void LxdNamesAreTheClientsAndLiblxcsNamesFollowFromThem(string given, string? project, string p, string n, string liblxc, string display)
    {
        LxdName name = LxdName.Parse(given, project)!.Value;
        Assert.Equal((p, n, liblxc, display), (name.Project, name.Name, name.LiblxcName, name.Display));
    }

    [Theory]
    [InlineData("web:p1", "db")]
    [InlineData("a:b:c", null)]
    [InlineData("we_b:p1", null)]
    [InlineData("web:", null)]
    [InlineData("../p1", null)]
    public void WhatNoLxdInstanceCanBeCalledIsNoName(string given, string? project) => Assert.Null(LxdName.Parse(given, project));

    [Fact]
    public void LxdRestAnswersGiveStatesAndPids()
    {
        // Trimmed from LXD 5.0.2's GET /1.0/instances?recursion=2&all-projects=true and /1.0/instances/p1/state?project=web here.
        const string list = """{"type":"sync","status":"Success","status_code":200,"metadata":[{"name":"p1","project":"web","status":"Running","type":"container","state":{"status":"Running","pid":28428}},{"name":"p2","project":"default","status":"Stopped","type":"container","state":{"status":"Stopped","pid":0}},{"name":"vm","project":"default","status":"Running","type":"virtual-machine","state":{"pid":4242}}]}""";
        Assert.Equal(new[] { "web:p1|True|28428", "p2|False|0", "vm|False|4242" },
            LxdInstance.ParseList(list).Select(i => $"{i.Name.Display}|{i.IsRunning}|{i.ProcessId}"));

        var web = new LxdName("web", "p1");
        LxdInstance state = LxdInstance.ParseState(web, """{"type":"sync","metadata":{"status":"Running","status_code":103,"pid":28428,"processes":1}}""")!;
        Assert.Equal((true, (int?)28428), (state.IsRunning, state.ProcessId));
        Assert.Null(LxdInstance.ParseState(web, """{"type":"error","status":"","status_code":0,"error_code":404,"error":"Instance not found","metadata":null}"""));
        var forbidden = Assert.Throws<FormatException>(() => LxdInstance.ParseState(web, """{"type":"error","error_code":403,"error":"not authorized"}"""));
        Assert.Equal("not authorized", forbidden.Message);
    }

    [Fact]
    public void RuncStateJsonGivesInitPidAndStartTime()
    {
        const string json = """{"id":"r1","init_process_pid":20296,"init_process_start":189896,"created":"2026-11-22T20:17:52.504210143Z","config":{"rootfs":"/x"},"rootless":false,"cgroup_paths":{},"namespace_paths":{"NEWNS":"/proc/20296/ns/mnt"},"external_descriptors":["/dev/null"],"intel_rdt_path":""}""";
        Assert.Equal(new OciInitState(20296, 189896), RuncResolver.ParseState(json));
    }

    [Fact]
    public void CrunStatusGivesPidAndStartTime()
    {
        const string json = """
            {
                "pid": 20560,
                "process-start-time": 190021,
                "cgroup-path": "/c1",
                "scope": "",
                "rootfs": "/tmp/wt4x/rootfs",
                "systemd-cgroup": false,
                "bundle": "/tmp/wt4x/bundle",
                "created": "2026-11-22T20:17:53.732232Z",
                "owner": "root",
                "detached": true
            }
            """;
        Assert.Equal(new OciInitState(20560, 190021), CrunResolver.ParseStatus(json));
        Assert.Equal(new OciInitState(7, null), CrunResolver.ParseStatus("""{"pid": 7}"""));
    }

    [Fact]
    public void DockerAndPodmanInspectGiveIdNamePidAndState()
    {
        const string docker = """[{"Id":"3accd5fd1ac2","Created":"x","Path":"/sbin/testinit","State":{"Status":"running","Running":true,"Paused":false,"Pid":13305},"Name":"/d1"}]""";
        const string podman = """[{"Id":"b3a6a1426cc0","Name":"p1","State":{"OciVersion":"1.0.2","Status":"exited","Running":false,"Pid":0}},{"Id":"sha256:1","RepoTags":["p1"]}]""";
        Assert.Equal(new[] { new EngineContainer("3accd5fd1ac2", "d1", 13305, true, "running") }, EngineContainer.ParseInspect(docker));
        Assert.Equal(new[] { new EngineContainer("b3a6a1426cc0", "p1", 0, false, "exited") }, EngineContainer.ParseInspect(podman));
        Assert.Empty(EngineContainer.ParseInspect("[]"));
        Assert.Empty(EngineContainer.ParseInspect(string.Empty));
    }

    [Fact]
    public void MachinedRecordGivesTheLeader()
    {
        MachineRecord record = MachineRecord.Parse("# This is private data. Do not parse.\nNAME=web\nSCOPE=machine-web.scope\nSERVICE=systemd-nspawn\nROOT=/var/lib/machines/web\nCLASS=container\nLEADER=4242\n");
        Assert.Equal(new MachineRecord(4242, "container", "systemd-nspawn"), record);
        Assert.Null(MachineRecord.Parse("NAME=x\n").Leader);
    }

    [Theory]
    [InlineData("web", "systemd-nspawn", "-D", "/srv/rootfs", "-M", "web", "--register=no", "/sbin/init")]
    [InlineData("web", "systemd-nspawn", "--machine=web", "-D", "/srv/rootfs")]
    [InlineData("web", "systemd-nspawn", "-Mweb", "-b")]
    [InlineData("rootfs", "systemd-nspawn", "-D", "/srv/rootfs/", "-q")]
    [InlineData("deb", "systemd-nspawn", "--image=/var/lib/machines/deb.raw")]
    [InlineData("web", "systemd-nspawn", "-u", "nobody", "--bind", "/a:/b", "-D", "/srv/x", "--machine", "web", "/bin/sh")]
    [InlineData("x", "systemd-nspawn", "-D", "/srv/x", "/bin/sh", "-M", "notme")]
    public void NspawnCommandLineNamesTheMachine(string expected, params string[] argv) =>
        Assert.Equal(expected, NspawnCommandLine.MachineName(argv));

    [Fact]
    public void NspawnWithoutDirectoryOrMachineHasNoName() => Assert.Null(NspawnCommandLine.MachineName(new[] { "systemd-nspawn", "--help" }));

    [Theory]
    [InlineData("101", true)]
    [InlineData("999999999", true)]
    [InlineData("99", false)]
    [InlineData("0101", false)]
    [InlineData("1000000000", false)]
    [InlineData("web", false)]
    public void ProxmoxCtIdsAreNumbersFrom100(string name, bool valid) => Assert.Equal(valid, ProxmoxResolver.IsCtId(name));

    [Theory]
    [InlineData("web", true)]
    [InlineData("a/b", false)]
    [InlineData("..", false)]
    [InlineData("-rf", false)]
    [InlineData("", false)]
    public void ContainerNamesThatCouldEscapeAreRefused(string name, bool plausible) => Assert.Equal(plausible, ContainerResolver.IsPlausibleName(name));

    [Theory]
    [InlineData("ct101-media", true)]
    [InlineData("a.b_c-1", true)]
    [InlineData(".meta", false)]
    [InlineData("../x", false)]
    [InlineData("a b", false)]
    [InlineData("", false)]
    public void StageNamesAreSingleSafeComponents(string name, bool valid) => Assert.Equal(valid, StageStore.IsValidName(name));
}

public sealed class IdMapTests
{
    private static readonly IReadOnlyList<IdMapRange> Unprivileged = IdMaps.ParseMap("         0     100000      65536\n");

    [Fact]
    public void ParsesAndMapsBothWays()
    {
        Assert.Equal(new[] { new IdMapRange(0, 100000, 65536) }, Unprivileged);
        Assert.Equal(100000u, IdMaps.ToHost(Unprivileged, 0));
        Assert.Equal(165535u, IdMaps.ToHost(Unprivileged, 65535));
        Assert.Null(IdMaps.ToHost(Unprivileged, 65536));
        Assert.Equal(0u, IdMaps.FromHost(Unprivileged, 100000));
        Assert.Null(IdMaps.FromHost(Unprivileged, 0));
        Assert.Equal((100000u, 100000u), new IdMaps(Unprivileged, Unprivileged).RootOnHost);
    }

    [Fact]
    public void SeveralRangesAndTheIdentityMap()
    {
        var map = IdMaps.ParseMap("0 100000 1000\n1000 1000 1\n1001 101001 64535\n");
        Assert.Equal(1000u, IdMaps.ToHost(map, 1000));
        Assert.Equal(101001u, IdMaps.ToHost(map, 1001));
        Assert.Equal(1000u, IdMaps.FromHost(map, 1000));
        Assert.True(IdMaps.IsIdentity(IdMaps.ParseMap("0 0 4294967295\n")));
        Assert.False(IdMaps.IsIdentity(map));
        Assert.Null(new IdMaps(IdMaps.ParseMap("1 100001 10"), map).RootOnHost);
    }

    [Fact]
    public void ABrokenLineIsAnError() => Assert.Throws<FormatException>(() => IdMaps.ParseMap("0 100000\n"));
}

/// <summary>Which container a name means, decided over what the runtimes answered.</summary>
public sealed class ContainerLookupTests
{
    private static readonly FakeResolver Lxc = new(ContainerRuntime.Lxc);
    private static readonly FakeResolver Runc = new(ContainerRuntime.Runc);
    private static readonly FakeResolver Podman = new(ContainerRuntime.Podman);

    [Fact]
    public void OneContainerSeenByTwoRuntimesIsReportedByItsManager()
    {
        var podman = new ContainerCandidate(ContainerRuntime.Podman, "web", 4242, Id: "b3a6");
        var runc = new ContainerCandidate(ContainerRuntime.Runc, "b3a6", 4242, 99);
        var (chosen, resolver) = ContainerLookup.Decide("web", new (ContainerCandidate, ContainerResolver)[] { (runc, Runc), (podman, Podman) },
            Array.Empty<string>(), Array.Empty<string>(), new[] { ContainerRuntime.Runc, ContainerRuntime.Podman });
        Assert.Equal(podman, chosen);
        Assert.Same(Podman, resolver);
    }

    [Fact]
    public void TwoContainersOfOneNameAreAmbiguous()
    {
        var lxc = new ContainerCandidate(ContainerRuntime.Lxc, "web", 100, Location: "lxcpath /var/lib/lxc");
        var runc = new ContainerCandidate(ContainerRuntime.Runc, "web", 200);
        var ex = Assert.Throws<ContainerLookupException>(() => ContainerLookup.Decide("web",
            new (ContainerCandidate, ContainerResolver)[] { (lxc, Lxc), (runc, Runc) }, Array.Empty<string>(), Array.Empty<string>(), Array.Empty<ContainerRuntime>()));
        Assert.Equal(LookupFailure.Ambiguous, ex.Failure);
        Assert.Contains("Lxc 'web' (PID 100, lxcpath /var/lib/lxc)", ex.Message);
        Assert.Contains("Runc 'web' (PID 200", ex.Message);
    }

    [Fact]
    public void NoneFoundSaysWhatWasAskedAndWhatCouldNotBe()
    {
        var ex = Assert.Throws<ContainerLookupException>(() => ContainerLookup.Decide("web", Array.Empty<(ContainerCandidate, ContainerResolver)>(),
            Array.Empty<string>(), new[] { "Docker (no daemon)" }, new[] { ContainerRuntime.Lxc, ContainerRuntime.Docker }));
        Assert.Equal(LookupFailure.NotFound, ex.Failure);
        Assert.Contains("asked: Lxc, Docker", ex.Message);
        Assert.Contains("Could not ask: Docker (no daemon)", ex.Message);

        var stopped = Assert.Throws<ContainerLookupException>(() => ContainerLookup.Decide("web", Array.Empty<(ContainerCandidate, ContainerResolver)>(),
            new[] { "Lxc knows 'web' in /var/lib/lxc, but it is STOPPED" }, Array.Empty<string>(), new[] { ContainerRuntime.Lxc }));
        Assert.Equal(LookupFailure.NotRunning, stopped.Failure);
    }

    [Fact]
    public void ARuntimeThatDidNotAnswerKeepsAnotherCandidateFromWinning()
    {
        // LXC made to hang (a FIFO as a config file) while a forged or a real nspawn container of the name answered: the
        // lookup cannot tell which one is meant, and says which runtime did not answer.
        var nspawn = new ContainerCandidate(ContainerRuntime.Nspawn, "web", 300, 42);
        var ex = Assert.Throws<ContainerLookupException>(() => ContainerLookup.Decide("web",
            new (ContainerCandidate, ContainerResolver)[] { (nspawn, Lxc) }, Array.Empty<string>(), Array.Empty<string>(),
            new[] { ContainerRuntime.Lxc, ContainerRuntime.Nspawn }, new[] { "Lxc (lxc-info did not answer within 5 s)" }));
        Assert.Equal(LookupFailure.RuntimeUnavailable, ex.Failure);
        Assert.Contains("Nspawn 'web' (PID 300) has it, but Lxc (lxc-info did not answer within 5 s) did not answer", ex.Message);

        // A runtime that is not on this host at all knows no container: the one that answered wins.
        var (chosen, _) = ContainerLookup.Decide("web", new (ContainerCandidate, ContainerResolver)[] { (nspawn, Lxc) }, Array.Empty<string>(),
            new[] { "Docker (no daemon)" }, new[] { ContainerRuntime.Docker, ContainerRuntime.Nspawn });
        Assert.Equal(nspawn, chosen);
    }

    [Fact]
    public void APidThatTheRuntimeNoLongerReportsIsNotPinned()
    {
        // The runtime named this process first, and a different one when asked again after pidfd_open: what a
        // container restart between the two answers looks like. The pidfd is dropped, nothing is returned.
        int self = Environment.ProcessId;
        var candidate = new ContainerCandidate(ContainerRuntime.Runc, "web", self);
        var restarted = new FakeResolver(ContainerRuntime.Runc) { Answer = ResolverAnswer.Of(candidate with { ProcessId = self + 1 }) };
        var ex = Assert.Throws<ContainerLookupException>(() => ContainerLookup.Pin(candidate, restarted));
        Assert.Equal(LookupFailure.Changed, ex.Failure);
        Assert.Contains("changed while it was being pinned", ex.Message);

        var same = new FakeResolver(ContainerRuntime.Runc) { Answer = ResolverAnswer.Of(candidate) };
        using ContainerNamespace ns = ContainerLookup.Pin(candidate, same);
        Assert.Equal((ContainerRuntime.Runc, "web", self), (ns.GetRuntime()!.Value, ns.Name, ns.ProcessId));

        // A start time that no longer matches /proc means the PID was reused.
        var reused = candidate with { StartTime = 1 };
        var stale = new FakeResolver(ContainerRuntime.Runc) { Answer = ResolverAnswer.Of(reused) };
        Assert.Equal(LookupFailure.Changed, Assert.Throws<ContainerLookupException>(() => ContainerLookup.Pin(reused, stale)).Failure);
    }

    private sealed class FakeResolver(ContainerRuntime runtime) : ContainerResolver
    {
        internal ResolverAnswer Answer { get; init; } = ResolverAnswer.None;

        internal override ContainerRuntime Runtime => runtime;

        internal override IReadOnlyList<ContainerCandidate> List() => Answer.Running;

        internal override ResolverAnswer Find(string name) => Answer;
    }
}
