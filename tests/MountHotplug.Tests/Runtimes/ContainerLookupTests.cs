using MountHotplug.Runtimes;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

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
