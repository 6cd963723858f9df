using System.Globalization;

namespace MountHotplug.Runtimes;

/// <summary>A running container as one runtime reports it, before it is pinned.</summary>
/// <param name="Runtime">Which runtime reported it.</param>
/// <param name="Name">Its name in that runtime (for docker and podman the name, not the id).</param>
/// <param name="ProcessId">The host PID of its init process.</param>
/// <param name="StartTime">The init's start time in clock ticks since boot (proc(5) field 22), when the runtime recorded
/// it: it tells the init apart from a later process with the same PID.</param>
/// <param name="Id">The runtime's id, when it has one besides the name (docker, podman).</param>
/// <param name="Location">Where it was found (an lxcpath, a state directory, "machined").</param>
public sealed record ContainerCandidate(ContainerRuntime Runtime, string Name, int ProcessId, ulong? StartTime = null, string? Id = null,
    string? Location = null)
{
    /// <summary>"Docker 'web' (PID 1234)", for messages and candidate lists.</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Runtime} '{Name}' (PID {ProcessId}{(Location is null ? string.Empty : $", {Location}")})");
}

/// <summary>What one runtime answered for a name: the running containers of that name, and a note if it knows a stopped one.</summary>
internal sealed record ResolverAnswer(IReadOnlyList<ContainerCandidate> Running, string? NotRunning = null)
{
    internal static readonly ResolverAnswer None = new(Array.Empty<ContainerCandidate>());

    internal static ResolverAnswer Of(ContainerCandidate candidate) => new(new[] { candidate });
}

/// <summary>
/// The runtime cannot be asked here. <see cref="Absent"/>: it is not on this host (its tool is not installed, no daemon is
/// configured), so it knows no container. Otherwise it is there but did not answer (a tool that failed or timed out, a daemon
/// that refused): it may know a container of the name asked for.
/// </summary>
internal sealed class RuntimeUnavailableException(ContainerRuntime runtime, string reason, bool absent = false) : Exception($"{runtime}: {reason}")
{
    internal ContainerRuntime Runtime { get; } = runtime;

    internal string Reason { get; } = reason;

    internal bool Absent { get; } = absent;
}
