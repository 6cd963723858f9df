
namespace MountHotplug.Runtimes;

/// <summary>Why a container name could not be turned into a pinned process.</summary>
public enum LookupFailure
{
    NotFound,
    NotRunning,
    Ambiguous,
    RuntimeUnavailable,
    Changed,
}

public sealed class ContainerLookupException(LookupFailure failure, string name, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public LookupFailure Failure { get; } = failure;

    public string Name { get; } = name;
}

/// <summary>
/// Asks the runtimes for a container by name, decides which one is meant, and pins its init with a pidfd, re-asking the
/// runtime afterwards so that a PID reused between the answer and pidfd_open is never taken for the container.
/// </summary>
/// <summary>
/// Finds running containers by name across the runtimes (LXC/Proxmox, LXD/Incus, runc, crun, podman, docker, systemd-nspawn),
/// taking only evidence a container cannot forge (see <see cref="HostEvidence"/>), and pins them.
/// </summary>
public sealed class ContainerLookup
{
    private readonly IReadOnlyList<ContainerResolver> _resolvers;
    private readonly bool _explicitRuntime;

    internal ContainerLookup(IReadOnlyList<ContainerResolver> resolvers, bool explicitRuntime)
    {
        _resolvers = resolvers;
        _explicitRuntime = explicitRuntime;
    }

    internal IReadOnlyList<ContainerResolver> Resolvers => _resolvers;

    /// <summary>Called with a line for -Verbose: which runtime was asked, what it said, and what evidence was ignored.</summary>
    public Action<string>? Trace
    {
        get => _trace;
        set
        {
            _trace = value;
            foreach (ContainerResolver resolver in _resolvers)
            {
                resolver.Trace = value;
            }
        }
    }

    private Action<string>? _trace;

    /// <summary>
    /// The resolvers for -Runtime (one), or every one that takes part in auto-detection, in the order they are asked. With a
    /// <paramref name="project"/> only LXD and Incus are asked: no other runtime has projects.
    /// </summary>
    public static ContainerLookup For(ContainerRuntime? runtime, string? lxcPath, string? project = null)
    {
        ContainerResolver[] all = project is not null
            ? new ContainerResolver[] { new LxdResolver(ContainerRuntime.Lxd, project), new LxdResolver(ContainerRuntime.Incus, project) }
            : new ContainerResolver[]
            {
                new LxdResolver(ContainerRuntime.Lxd, null), new LxdResolver(ContainerRuntime.Incus, null),
                new LxcResolver(lxcPath), new ProxmoxResolver(lxcPath), new RuncResolver(), new CrunResolver(),
                new PodmanResolver(), new DockerResolver(), new NspawnResolver(),
            };
        return runtime is { } r
            ? new ContainerLookup(all.Where(x => x.Runtime == r).ToArray(), explicitRuntime: true)
            : new ContainerLookup(all.Where(x => x.TakesPartInAutoDetect).ToArray(), explicitRuntime: false);
    }

    /// <summary>
    /// The order in which one container known to several runtimes is reported: the manager a user names it by comes
    /// before the low-level runtime it drives (podman runs runc, Proxmox, LXD and Incus run LXC).
    /// </summary>
    internal static int Rank(ContainerRuntime runtime) => runtime switch
    {
        ContainerRuntime.Proxmox => 0,
        ContainerRuntime.Lxd => 1,
        ContainerRuntime.Incus => 1,
        ContainerRuntime.Podman => 2,
        ContainerRuntime.Docker => 3,
        ContainerRuntime.Lxc => 4,
        ContainerRuntime.Nspawn => 5,
        ContainerRuntime.Runc => 6,
        ContainerRuntime.Crun => 7,
        _ => 9,
    };

    /// <summary>One entry per init process: the same container seen by two runtimes is one container.</summary>
    internal static IReadOnlyList<ContainerCandidate> Merge(IEnumerable<ContainerCandidate> candidates) =>
        candidates.GroupBy(c => c.ProcessId)
            .Select(g => g.OrderBy(c => Rank(c.Runtime)).First())
            .OrderBy(c => Rank(c.Runtime)).ThenBy(c => c.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>Every running container the runtimes know of, unpinned (for listing and completion).</summary>
    public IReadOnlyList<ContainerCandidate> ListCandidates(List<string>? unavailable = null)
    {
        var all = new List<ContainerCandidate>();
        foreach (ContainerResolver resolver in _resolvers)
        {
            try
            {
                IReadOnlyList<ContainerCandidate> found = resolver.List();
                Trace?.Invoke($"{resolver.Runtime}: {found.Count} running container(s){(found.Count == 0 ? string.Empty : ": " + string.Join(", ", found.Select(f => f.Name)))}");
                all.AddRange(found);
            }
            catch (RuntimeUnavailableException ex)
            {
                Trace?.Invoke($"{resolver.Runtime}: not asked ({ex.Reason})");
                unavailable?.Add($"{resolver.Runtime} ({ex.Reason})");
            }
        }

        return Merge(all);
    }

    /// <summary>The one running container called <paramref name="name"/>, and the resolver that found it.</summary>
    /// <exception cref="ContainerLookupException">None, or several, or the runtime could not be asked.</exception>
    internal (ContainerCandidate Candidate, ContainerResolver Resolver) Find(string name)
    {
        var found = new List<(ContainerCandidate, ContainerResolver)>();
        var notes = new List<string>();
        var unavailable = new List<string>();
        var unanswered = new List<string>();
        foreach (ContainerResolver resolver in _resolvers)
        {
            ResolverAnswer answer;
            try
            {
                answer = resolver.Find(name);
            }
            catch (RuntimeUnavailableException ex)
            {
                Trace?.Invoke($"{resolver.Runtime}: not asked ({ex.Reason})");
                if (_explicitRuntime)
                {
                    throw new ContainerLookupException(LookupFailure.RuntimeUnavailable, name,
                        $"Cannot look up container '{name}' with {resolver.Runtime}: {ex.Reason}.", inner: ex);
                }

                (ex.Absent ? unavailable : unanswered).Add($"{resolver.Runtime} ({ex.Reason})");
                continue;
            }

            Trace?.Invoke(answer.Running.Count == 0
                ? $"{resolver.Runtime}: no running container '{name}'{(answer.NotRunning is null ? string.Empty : $" ({answer.NotRunning})")}"
                : $"{resolver.Runtime}: {string.Join(", ", answer.Running.Select(c => c.Describe()))}");
            found.AddRange(answer.Running.Select(c => (c, resolver)));
            if (answer.NotRunning is not null)
            {
                notes.Add(answer.NotRunning);
            }
        }

        return Decide(name, found, notes, unavailable, _resolvers.Select(r => r.Runtime).ToList(), unanswered);
    }

    /// <summary>
    /// Pure decision over what the runtimes answered; see <see cref="Find"/>. <paramref name="unavailable"/> are the runtimes
    /// not on this host; <paramref name="unanswered"/> those that are but did not answer: they may know a container of the
    /// name, so the lookup cannot decide and says so (a runtime that is made to hang must never let another candidate win).
    /// </summary>
    internal static (ContainerCandidate Candidate, ContainerResolver Resolver) Decide(string name,
        IReadOnlyList<(ContainerCandidate Candidate, ContainerResolver Resolver)> found, IReadOnlyList<string> notRunning,
        IReadOnlyList<string> unavailable, IReadOnlyList<ContainerRuntime> asked, IReadOnlyList<string>? unanswered = null)
    {
        IReadOnlyList<ContainerCandidate> merged = Merge(found.Select(f => f.Candidate));
        if (merged.Count > 1)
        {
            throw new ContainerLookupException(LookupFailure.Ambiguous, name,
                $"The name '{name}' is ambiguous: {merged.Count} running containers have it: {string.Join("; ", merged.Select(c => c.Describe()))}.");
        }

        if (unanswered is { Count: > 0 })
        {
            string seen = merged.Count == 1 ? $"{merged[0].Describe()} has it, but " : string.Empty;
            throw new ContainerLookupException(LookupFailure.RuntimeUnavailable, name,
                $"Cannot tell which container is '{name}': {seen}{string.Join(", ", unanswered)} did not answer, and may know a container of that name.");
        }

        if (merged.Count == 1)
        {
            return found.First(f => f.Candidate == merged[0]);
        }

        if (notRunning.Count > 0)
        {
            throw new ContainerLookupException(LookupFailure.NotRunning, name, $"Container '{name}' is not running: {string.Join("; ", notRunning)}.");
        }

        string askedText = string.Join(", ", asked);
        string unavailableText = unavailable.Count == 0 ? string.Empty : $" Could not ask: {string.Join(", ", unavailable)}.";
        throw new ContainerLookupException(LookupFailure.NotFound, name, $"No running container '{name}' was found (asked: {askedText}).{unavailableText}");
    }

    /// <summary>
    /// Pins the candidate's init with a pidfd, then asks the runtime again: only if it still names the same process
    /// (same PID, same start time or id) is the pidfd the container's. Otherwise the container stopped or restarted in
    /// between, and a reused PID might be pinned: that is refused.
    /// </summary>
    internal static ContainerNamespace Pin(ContainerCandidate candidate, ContainerResolver resolver, Action<string>? trace = null)
    {
        SafePidfdHandle pidfd;
        try
        {
            pidfd = MountSyscalls.PidfdOpen(candidate.ProcessId);
        }
        catch (SyscallException ex) when (ex.Errno == Errno.ESRCH)
        {
            throw Changed(candidate, "its init process exited before it could be pinned", ex);
        }

        try
        {
            trace?.Invoke($"pidfd_open({candidate.ProcessId}, 0) = fd {pidfd.DescriptorNumber}; asking {resolver.Runtime} again");
            ResolverAnswer again;
            try
            {
                again = resolver.Find(candidate.Name);
            }
            catch (RuntimeUnavailableException ex)
            {
                throw Changed(candidate, $"{resolver.Runtime} could not be asked again ({ex.Reason})", ex);
            }

            if (!again.Running.Any(c => c.ProcessId == candidate.ProcessId && c.Id == candidate.Id && c.StartTime == candidate.StartTime))
            {
                string now = again.Running.Count == 0 ? "it is no longer running" : $"it now is {string.Join(", ", again.Running.Select(c => c.Describe()))}";
                throw Changed(candidate, now, null);
            }

            // A start time read through /proc/PID is only the pinned process's if the pidfd shows it still lives.
            if (candidate.StartTime is { } start && ProcTable.StartTime(candidate.ProcessId) != start)
            {
                throw Changed(candidate, "its init process was replaced", null);
            }

            ContainerNamespace ns = ContainerNamespace.Open(candidate.ProcessId, pidfd);
            ns.SetContainer(candidate);
            return ns;
        }
        catch
        {
            pidfd.Dispose();
            throw;
        }
    }

    private static ContainerLookupException Changed(ContainerCandidate candidate, string what, Exception? inner) =>
        new(LookupFailure.Changed, candidate.Name,
            $"{candidate.Describe()} changed while it was being pinned: {what}. Nothing was pinned; ask again.", inner);

    /// <summary>Finds the running container <paramref name="name"/> and pins its init process.</summary>
    /// <exception cref="ContainerLookupException">Not found, ambiguous, or a runtime that should answer did not.</exception>
    /// <exception cref="SyscallException">The container stopped while it was pinned (ESRCH), or pidfd_open failed.</exception>
    public ContainerNamespace Open(string name)
    {
        (ContainerCandidate candidate, ContainerResolver resolver) = Find(name);
        ContainerNamespace ns = Pin(candidate, resolver, _trace);
        _trace?.Invoke($"'{name}' is {candidate.Describe()}{(_explicitRuntime ? string.Empty : $": matched by {candidate.Runtime}")}; mount namespace {ns.MountNamespaceId}");
        return ns;
    }

    /// <summary>
    /// Pins every running container the runtimes list; one that stops between the listing and the pin is skipped (traced).
    /// <paramref name="unavailable"/> receives the runtimes that are installed but did not answer; when the runtime was
    /// asked for by name and did not answer, nothing is pinned (the caller reports it).
    /// </summary>
    public IReadOnlyList<ContainerNamespace> OpenAll(List<string> unavailable)
    {
        var pinned = new List<ContainerNamespace>();
        IReadOnlyList<ContainerCandidate> candidates = ListCandidates(unavailable);
        if (_explicitRuntime && unavailable.Count > 0)
        {
            return pinned;
        }

        foreach (ContainerCandidate candidate in candidates)
        {
            ContainerNamespace ns;
            try
            {
                ns = Pin(candidate, _resolvers.First(r => r.Runtime == candidate.Runtime), _trace);
            }
            catch (Exception ex) when (ex is ContainerLookupException or SyscallException)
            {
                _trace?.Invoke($"{candidate.Describe()}: skipped, {ex.Message}");
                continue;
            }

            pinned.Add(ns);
        }

        return pinned;
    }
}
