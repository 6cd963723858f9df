using System.Text.Json;

namespace MountHotplug.Runtimes;

/// <summary>One container from `docker inspect` or `podman inspect` (both print a JSON array of objects).</summary>
internal sealed record EngineContainer(string Id, string Name, int ProcessId, bool Running, string? Status)
{
    /// <summary>Parses the JSON array; docker writes names with a leading '/', podman without.</summary>
    internal static IReadOnlyList<EngineContainer> ParseInspect(string json)
    {
        var containers = new List<EngineContainer>();
        using JsonDocument doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(json) ? "[]" : json);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            return containers;
        }

        foreach (JsonElement item in doc.RootElement.EnumerateArray())
        {
            if (!item.TryGetProperty("Id", out JsonElement id) || !item.TryGetProperty("State", out JsonElement state)
                || state.ValueKind != JsonValueKind.Object)
            {
                continue; // an image or volume of the same name, which inspect without --type may print
            }

            string name = item.TryGetProperty("Name", out JsonElement n) ? n.GetString() ?? string.Empty : string.Empty;
            int pid = state.TryGetProperty("Pid", out JsonElement p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : 0;
            bool running = state.TryGetProperty("Running", out JsonElement r) && r.ValueKind == JsonValueKind.True;
            string? status = state.TryGetProperty("Status", out JsonElement s) ? s.GetString() : null;
            containers.Add(new EngineContainer(id.GetString() ?? string.Empty, name.TrimStart('/'), pid, running, status));
        }

        return containers;
    }
}

/// <summary>docker and podman: asked through their own CLI, which honors DOCKER_HOST and CONTAINER_HOST from the environment.</summary>
internal abstract class EngineResolver : ContainerResolver
{
    /// <summary>The CLI to run, or null with the reason in <see cref="UnavailableReason"/>.</summary>
    protected abstract string? Executable { get; }

    /// <summary>What to put before the CLI's arguments (a wrapper and its options, then the CLI), or nothing.</summary>
    protected virtual IReadOnlyList<string> Prefix(string cli) => Array.Empty<string>();

    private CommandOutput Run(string cli, IEnumerable<string> arguments)
    {
        IReadOnlyList<string> prefix = Prefix(cli);
        return prefix.Count == 0
            ? CommandRunner.Run(Runtime, cli, arguments)
            : CommandRunner.Run(Runtime, prefix[0], prefix.Skip(1).Concat(arguments));
    }

    protected abstract string UnavailableReason { get; }

    internal override IReadOnlyList<ContainerCandidate> List()
    {
        string cli = Cli();
        CommandOutput ids = Run(cli, new[] { "ps", "-q", "--no-trunc" });
        if (ids.ExitCode != 0)
        {
            throw new RuntimeUnavailableException(Runtime, $"{Path.GetFileName(cli)} ps failed: {ids.FirstErrorLine}");
        }

        string[] list = ids.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length == 0)
        {
            return Array.Empty<ContainerCandidate>();
        }

        CommandOutput inspect = Run(cli, new[] { "inspect", "--type", "container", "--" }.Concat(list));
        return EngineContainer.ParseInspect(inspect.StandardOutput).Where(c => c.Running && c.ProcessId > 0).Select(Candidate).ToList();
    }

    internal override ResolverAnswer Find(string name)
    {
        if (!IsPlausibleName(name))
        {
            return ResolverAnswer.None;
        }

        string cli = Cli();
        CommandOutput inspect = Run(cli, new[] { "inspect", "--type", "container", "--", name });
        if (inspect.ExitCode != 0)
        {
            if (inspect.StandardError.Contains("no such", StringComparison.OrdinalIgnoreCase))
            {
                return ResolverAnswer.None;
            }

            throw new RuntimeUnavailableException(Runtime, $"{Path.GetFileName(cli)} inspect failed: {inspect.FirstErrorLine}");
        }

        IReadOnlyList<EngineContainer> found = EngineContainer.ParseInspect(inspect.StandardOutput);
        var running = found.Where(c => c.Running && c.ProcessId > 0).Select(Candidate).ToList();
        string? stopped = found.FirstOrDefault(c => !c.Running) is { } s ? $"{Runtime} knows '{s.Name}', but it is {s.Status ?? "not running"}" : null;
        return new ResolverAnswer(running, stopped);
    }

    private string Cli() => Executable ?? throw new RuntimeUnavailableException(Runtime, UnavailableReason, absent: true);

    private ContainerCandidate Candidate(EngineContainer c) =>
        new(Runtime, c.Name, c.ProcessId, StartTime: null, Id: c.Id, Location: c.Id.Length > 12 ? $"id {c.Id[..12]}" : $"id {c.Id}");
}
