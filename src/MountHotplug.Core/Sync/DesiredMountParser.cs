namespace MountHotplug.Sync;

/// <summary>One entry as read: the desired mount, or why it is not one. Either way the target it names, once normalized.</summary>
/// <param name="Origin">Its position and what it named, as written.</param>
/// <param name="Mount">The desired mount; null when <paramref name="Problem"/> says why not.</param>
/// <param name="Problem">Why the entry cannot be synced.</param>
/// <param name="NormalizedTarget">The target as a valid container path, when it is one (also for an entry with another problem):
/// -Prune leaves a target alone that any entry names.</param>
public sealed record ParsedEntry(EntryOrigin Origin, DesiredMount? Mount, SyncException? Problem, string? NormalizedTarget);

/// <summary>
/// Reads desired-mount entries from field/value pairs: names matched without regard to case, as PowerShell binds by property
/// name; flags as booleans or as the strings Import-Csv gives ("true", "false", "1", "0", "yes", "no", empty). Pure logic, no
/// system calls; the sources are checked to exist later, when Sync looks at the host.
/// </summary>
public static class DesiredMountParser
{
    /// <summary>The fields an entry may have. Any other is an error: a misspelt ReadOnly must not mean read-write.</summary>
    public static IReadOnlyList<string> Fields { get; } =
        ["Path", "Source", "Target", "ReadOnly", "NoSuid", "NoDev", "NoExec", "Recurse", "Propagation", "IdMap"];

    private static readonly MountPropagation[] Propagations =
        [MountPropagation.Private, MountPropagation.Shared, MountPropagation.Slave, MountPropagation.Unbindable];

    /// <summary>
    /// Reads every entry and marks those that name the same target as another: which of two entries for one place is meant
    /// cannot be told, so neither is synced.
    /// </summary>
    /// <param name="resolvePath">Makes a host path absolute (the cmdlet resolves it against the current PowerShell location).</param>
    public static IReadOnlyList<ParsedEntry> ParseAll(IEnumerable<IEnumerable<KeyValuePair<string, object?>>> entries, Func<string, string> resolvePath)
    {
        List<ParsedEntry> parsed = entries.Select((fields, index) => Parse(index, fields, resolvePath)).ToList();
        var shared = parsed.Where(p => p.NormalizedTarget is not null)
            .GroupBy(p => p.NormalizedTarget!, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Origin.Index + 1).ToList(), StringComparer.Ordinal);
        return parsed.Select(p => p.Problem is null && shared.TryGetValue(p.NormalizedTarget!, out List<int>? numbers)
            ? p with
            {
                Mount = null,
                Problem = new SyncException(SyncFailure.DuplicateTarget, p.NormalizedTarget!,
                    $"Entries {string.Join(", ", numbers)} all name the target '{p.NormalizedTarget}'; a target can hold one desired mount, so none of them was synced."),
            }
            : p).ToList();
    }

    /// <summary>Reads one entry; <paramref name="index"/> is its 0-based position.</summary>
    public static ParsedEntry Parse(int index, IEnumerable<KeyValuePair<string, object?>> fields, Func<string, string> resolvePath)
    {
        ArgumentNullException.ThrowIfNull(fields);
        ArgumentNullException.ThrowIfNull(resolvePath);
        var values = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        var unknown = new List<string>();
        foreach ((string name, object? value) in fields)
        {
            if (Fields.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                values[name] = value;
            }
            else
            {
                unknown.Add(name);
            }
        }

        string? path = Text(values, "Path");
        string? source = Text(values, "Source");
        string? target = Text(values, "Target");
        var origin = new EntryOrigin(index, target, path ?? source);
        IReadOnlyList<string>? components = TargetPath.TrySplit(target, out string? reason);
        string? normalized = components is null ? null : TargetPath.Join(components);

        ParsedEntry Fail(SyncFailure failure, string message) =>
            new(origin, null, new SyncException(failure, (object?)normalized ?? origin.Subject, message), normalized);

        if (unknown.Count > 0)
        {
            return Fail(SyncFailure.InvalidEntry,
                $"The entry has {(unknown.Count == 1 ? "a field" : "fields")} Sync does not know: {string.Join(", ", unknown)}. An entry has {string.Join(", ", Fields)}.");
        }

        if (path is not null && source is not null && path != source)
        {
            return Fail(SyncFailure.InvalidEntry, $"The entry names two sources, Path '{path}' and Source '{source}'; give one.");
        }

        if (string.IsNullOrEmpty(target))
        {
            return Fail(SyncFailure.TargetMissing, $"The entry{(origin.Source is null ? string.Empty : $" for '{origin.Source}'")} has no Target: nothing says where it goes inside the container.");
        }

        if (normalized is null)
        {
            return Fail(SyncFailure.InvalidTarget, $"Invalid target '{target}': {reason}.");
        }

        source = path ?? source;
        if (string.IsNullOrEmpty(source))
        {
            return Fail(SyncFailure.SourceMissing, $"The entry for '{normalized}' names no host path: give it a Path (or Source).");
        }

        if (TargetPath.TextProblem(source) is { } problem)
        {
            return Fail(SyncFailure.InvalidEntry, $"The source path {problem}.");
        }

        string resolved;
        try
        {
            resolved = resolvePath(source);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Fail(SyncFailure.InvalidEntry, $"'{source}' is not a valid host path: {ex.Message}");
        }

        var errors = new List<string>();
        bool Flag(string name) => ReadFlag(values, name, errors);
        DesiredMount mount = new()
        {
            Source = resolved,
            Target = normalized,
            ReadOnly = Flag("ReadOnly"),
            NoSuid = Flag("NoSuid"),
            NoDev = Flag("NoDev"),
            NoExec = Flag("NoExec"),
            Recurse = Flag("Recurse"),
            Propagation = ReadPropagation(values, errors),
        };
        mount = ReadIdMap(values, mount, resolvePath, errors);
        return errors.Count > 0
            ? Fail(SyncFailure.InvalidEntry, $"The entry for '{normalized}' has {(errors.Count == 1 ? "a value" : "values")} Sync cannot read: {string.Join("; ", errors)}.")
            : new ParsedEntry(origin, mount, null, normalized);
    }

    // An empty cell is how a CSV row says "no value".
    private static string? Text(Dictionary<string, object?> values, string name) =>
        values.TryGetValue(name, out object? value) && value?.ToString() is { Length: > 0 } text ? text : null;

    /// <summary>A yes/no field: absent or empty is no.</summary>
    internal static bool ReadFlag(IReadOnlyDictionary<string, object?> values, string name, List<string> errors)
    {
        if (!values.TryGetValue(name, out object? value))
        {
            return false;
        }

        if (TryBoolean(value, out bool result))
        {
            return result;
        }

        errors.Add($"{name} is '{value}', not true or false");
        return false;
    }

    private static bool TryBoolean(object? value, out bool result)
    {
        switch (value)
        {
            case null:
                result = false;
                return true;
            case bool b:
                result = b;
                return true;
            case int or long or short or byte or uint or ulong:
                long number = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                result = number != 0;
                return number is 0 or 1;
        }

        switch (value.ToString()!.Trim().ToLowerInvariant())
        {
            case "" or "false" or "0" or "no" or "$false":
                result = false;
                return true;
            case "true" or "1" or "yes" or "$true":
                result = true;
                return true;
            default:
                result = false;
                return false;
        }
    }

    private static MountPropagation ReadPropagation(Dictionary<string, object?> values, List<string> errors)
    {
        if (!values.TryGetValue("Propagation", out object? value) || value?.ToString() is not { Length: > 0 } text)
        {
            return MountPropagation.Private;
        }

        if (value is MountPropagation given && Propagations.Contains(given))
        {
            return given;
        }

        foreach (MountPropagation propagation in Propagations)
        {
            if (string.Equals(propagation.ToString(), text.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return propagation;
            }
        }

        errors.Add($"Propagation is '{text}', not one of {string.Join(", ", Propagations)}");
        return MountPropagation.Private;
    }

    // true: through the synced container's own user namespace; a ContainerNamespace or IdMapSource: through that one; any
    // other text: the path of a user namespace file (/proc/PID/ns/user).
    private static DesiredMount ReadIdMap(Dictionary<string, object?> values, DesiredMount mount, Func<string, string> resolvePath, List<string> errors)
    {
        if (!values.TryGetValue("IdMap", out object? value))
        {
            return mount;
        }

        switch (value)
        {
            case ContainerNamespace ns:
                return mount with { IdMap = new IdMapSource(ns) };
            case IdMapSource source:
                return mount with { IdMap = source };
        }

        if (TryBoolean(value, out bool on))
        {
            return mount with { IdMapThroughContainer = on };
        }

        string text = value!.ToString()!;
        if (TargetPath.TextProblem(text) is { } problem)
        {
            errors.Add($"IdMap {problem}");
            return mount;
        }

        try
        {
            return mount with { IdMap = new IdMapSource(resolvePath(text)) };
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            errors.Add($"IdMap '{text}' is not a valid path: {ex.Message}");
            return mount;
        }
    }
}
