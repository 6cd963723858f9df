namespace MountHotplug.Sync;

/// <summary>
/// One mount a container should have, as Sync-ContainerMount reads it from a hashtable, an Import-Csv row, a ConvertFrom-Json
/// object or a file: a host path, where it goes inside the container, and the attributes New-StagedMount takes.
/// </summary>
public sealed record DesiredMount
{
    /// <summary>The host path (absolute, as resolved on the host) to clone.</summary>
    public required string Source { get; init; }

    /// <summary>The normalized absolute path inside the container ("/mnt/data").</summary>
    public required string Target { get; init; }

    public bool ReadOnly { get; init; }

    public bool NoSuid { get; init; }

    public bool NoDev { get; init; }

    public bool NoExec { get; init; }

    /// <summary>Clone the mounts below the source too (AT_RECURSIVE).</summary>
    public bool Recurse { get; init; }

    public MountPropagation Propagation { get; init; } = MountPropagation.Private;

    /// <summary>Idmap through the user namespace of the container being synced (IdMap = true).</summary>
    public bool IdMapThroughContainer { get; init; }

    /// <summary>Idmap through another user namespace: a user namespace file, or another container.</summary>
    public IdMapSource? IdMap { get; init; }

    public bool IdMapped => IdMapThroughContainer || IdMap is not null;

    /// <summary>The per-mount flags Sync keeps as the entry says: set when asked for, cleared when not.</summary>
    public const MountAttributes ManagedFlags = MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev | MountAttributes.NoExec;

    public MountAttributes Flags =>
        (ReadOnly ? MountAttributes.ReadOnly : 0) | (NoSuid ? MountAttributes.NoSuid : 0)
        | (NoDev ? MountAttributes.NoDev : 0) | (NoExec ? MountAttributes.NoExec : 0);

    /// <summary>"ro,nosuid,nodev" (and ",idmapped"), as a mount's options read.</summary>
    public string Attributes => SyncText.Attributes(Flags, IdMapped);
}

/// <summary>Where an entry came from, for errors about it: its position in the input and what it named.</summary>
/// <param name="Index">0-based position among the entries of one Sync.</param>
/// <param name="Target">The target as written (null when the entry had none).</param>
/// <param name="Source">The source as written (null when the entry had none).</param>
public sealed record EntryOrigin(int Index, string? Target, string? Source)
{
    /// <summary>What an error about the entry names: its target, else its source, else its position.</summary>
    public object Subject => (object?)Target ?? (object?)Source ?? $"entry {Index + 1}";
}

internal static class SyncText
{
    internal static string Attributes(MountAttributes flags, bool idMapped) =>
        StagedMount.FormatAttributes(flags) + (idMapped ? ",idmapped" : string.Empty);

    internal static string Propagation(MountPropagation propagation) => propagation.ToString().ToLowerInvariant();
}
