namespace MountHotplug.Sync;

/// <summary>What Sync-ContainerMount did (or, under -WhatIf, would do) at one target.</summary>
public enum SyncAction
{
    /// <summary>The same source with the same attributes is mounted there: nothing was done.</summary>
    InSync,

    /// <summary>Nothing was mounted there: the source was hot-plugged, missing directories created.</summary>
    Added,

    /// <summary>The same source with other attributes: they were changed in place (mount_setattr).</summary>
    Updated,

    /// <summary>Another source that Sync placed (or, with -Force, anyone): swapped atomically (MOVE_MOUNT_BENEATH).</summary>
    Replaced,

    /// <summary>A mount Sync did not place is there, and -Force was not given: nothing was changed, and an error says so.</summary>
    Conflict,

    /// <summary>-Prune: a mount Sync placed earlier and no entry names any more was unplugged.</summary>
    Removed,
}

/// <summary>One row of Sync-ContainerMount's output: a target, what was done there, and the mount before and after.</summary>
public sealed class SyncResult
{
    internal SyncResult(string target, SyncAction action, string source, string attributes, MountPropagation propagation, ulong? before, ulong? after,
        bool whatIf, ContainerNamespace ns)
    {
        Target = target;
        Action = action;
        Source = source;
        Attributes = attributes;
        Propagation = propagation;
        MountIdBefore = before;
        MountIdAfter = after;
        WhatIf = whatIf;
        NamespaceProcessId = ns.ProcessId;
        MountNamespaceId = ns.MountNamespaceId;
        Container = ns.Name;
    }

    /// <summary>The path inside the container.</summary>
    public string Target { get; }

    public SyncAction Action { get; }

    /// <summary>The host path the entry names (for Removed: the one Sync had placed).</summary>
    public string Source { get; }

    /// <summary>The attributes the entry asks for ("ro,nosuid,nodev"); for Removed, those of the mount that was unplugged.</summary>
    public string Attributes { get; }

    public MountPropagation Propagation { get; }

    /// <summary>The unique id of the mount on top at the target before; null when nothing was mounted there.</summary>
    public ulong? MountIdBefore { get; }

    /// <summary>The unique id of the mount there afterwards; null after Removed, and when nothing was done (-WhatIf, Conflict) the id before.</summary>
    public ulong? MountIdAfter { get; }

    /// <summary>True when the action was only planned: -WhatIf, or declined at -Confirm.</summary>
    public bool WhatIf { get; }

    public int NamespaceProcessId { get; }

    public ulong MountNamespaceId { get; }

    public string? Container { get; }

    public override string ToString() => $"{Action} {Target} ({Source}, {Attributes})";
}

/// <summary>Why one entry of a Sync could not be carried out; each has its own error id in the cmdlet.</summary>
public enum SyncFailure
{
    /// <summary>The entry names no target.</summary>
    TargetMissing,

    /// <summary>The target is not an absolute path inside the container (relative, "..", "/", bad text).</summary>
    InvalidTarget,

    /// <summary>The entry names no source (neither Path nor Source).</summary>
    SourceMissing,

    /// <summary>The source does not exist on the host.</summary>
    SourceNotFound,

    /// <summary>Two or more entries name the same target.</summary>
    DuplicateTarget,

    /// <summary>A field has a value Sync cannot read, or the entry has a field Sync does not know.</summary>
    InvalidEntry,

    /// <summary>A mount Sync did not place is at the target, and -Force was not given.</summary>
    Conflict,

    /// <summary>The mount at the target is no longer the one the plan saw.</summary>
    MountChanged,
}

/// <summary>An entry of a Sync that failed before anything was changed for it; the cause, if any, is the inner exception.</summary>
public sealed class SyncException(SyncFailure failure, object subject, string message, Exception? inner = null) : Exception(message, inner)
{
    public SyncFailure Failure { get; } = failure;

    /// <summary>What the error is about: the entry's target, else its source, else its position.</summary>
    public object Subject { get; } = subject;
}

/// <summary>The state file of a container could not be read, or is not to be trusted; Sync stops before it changes anything.</summary>
public sealed class SyncStateException(string path, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Path { get; } = path;
}
