using System.Text.Json;

namespace MountHotplug.Runtimes;

/// <summary>The init PID and its start time, as an OCI runtime's state file records them.</summary>
internal readonly record struct OciInitState(int ProcessId, ulong? StartTime);

/// <summary>
/// runc and crun keep one directory per container under their state root. No command is run: the state file holds the
/// init PID and its start time, and a container is running exactly when a process with that PID and start time lives
/// (which is also how the runtimes themselves decide).
/// </summary>
internal abstract class OciStateResolver(string stateRoot) : ContainerResolver
{
    internal string StateRoot { get; } = stateRoot;

    /// <summary>The state file's name inside the container's directory.</summary>
    protected abstract string StateFileName { get; }

    /// <summary>Reads the init's PID and start time from the state file's JSON.</summary>
    protected abstract OciInitState Parse(string json);

    internal override IReadOnlyList<ContainerCandidate> List()
    {
        if (!Directory.Exists(StateRoot))
        {
            return Array.Empty<ContainerCandidate>();
        }

        var found = new List<ContainerCandidate>();
        foreach (string dir in Directory.EnumerateDirectories(StateRoot))
        {
            if (Read(Path.GetFileName(dir)) is { } state && IsLive(state))
            {
                found.Add(Candidate(Path.GetFileName(dir), state));
            }
        }

        return found;
    }

    internal override ResolverAnswer Find(string name)
    {
        if (!IsPlausibleName(name) || Read(name) is not { } state)
        {
            return ResolverAnswer.None;
        }

        return IsLive(state)
            ? ResolverAnswer.Of(Candidate(name, state))
            : new ResolverAnswer(Array.Empty<ContainerCandidate>(), $"{Runtime} knows '{name}' ({StateRoot}), but its init (PID {state.ProcessId}) is no longer running");
    }

    private static bool IsLive(OciInitState state) =>
        state.ProcessId > 0 && ProcTable.StartTime(state.ProcessId) is { } start && (state.StartTime is null || start == state.StartTime);

    private ContainerCandidate Candidate(string name, OciInitState state) =>
        new(Runtime, name, state.ProcessId, state.StartTime, Id: null, Location: StateRoot);

    private OciInitState? Read(string id)
    {
        string file = Path.Combine(StateRoot, id, StateFileName);
        try
        {
            return HostEvidence.ReadStateFile(file, Trace) is { } json ? Parse(json) : null;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            // Being written right now, or from a version with another layout: not a container we can vouch for.
            return null;
        }
    }

    protected static ulong? OptionalUInt64(JsonElement root, string property) =>
        root.TryGetProperty(property, out JsonElement value) && value.ValueKind == JsonValueKind.Number ? value.GetUInt64() : null;
}
