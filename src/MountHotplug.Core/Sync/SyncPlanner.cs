namespace MountHotplug.Sync;

/// <summary>What is at a target inside the container now.</summary>
public enum TargetKind
{
    /// <summary>The path does not exist (its missing directories would be created).</summary>
    Missing,

    /// <summary>The path exists and nothing is mounted on it.</summary>
    Unmounted,

    /// <summary>A mount is on it; the view describes the mount on top.</summary>
    Mounted,
}

/// <summary>A target as Sync saw it: for a mount point, the mount on top, its root (device and inode) and its attributes.</summary>
public sealed record TargetView(TargetKind Kind, bool IsDirectory = true, ulong MountId = 0, uint DeviceMajor = 0, uint DeviceMinor = 0, ulong Inode = 0,
    MountAttributes Flags = MountAttributes.None, PropagationState Propagation = PropagationState.Private);

/// <summary>A source on the host as Sync saw it: what open_tree would clone.</summary>
public sealed record SourceView(uint DeviceMajor, uint DeviceMinor, ulong Inode, bool IsDirectory);

/// <summary>One entry with what Sync saw for it; <paramref name="Problem"/> when looking failed (a missing source, a link at the target).</summary>
/// <param name="IdMapUserNamespace">The inode of the user namespace the entry idmaps through, when it asks for one.</param>
public sealed record EntryView(ParsedEntry Entry, SourceView? Source = null, TargetView? Target = null, ulong? IdMapUserNamespace = null,
    Exception? Problem = null);

/// <summary>A mount Sync placed that no entry names any more, with what is at its target now (-Prune).</summary>
/// <param name="StillInNamespace">Whether the recorded mount is still in the container's mount table anywhere (e.g. under another mount).</param>
public sealed record PruneView(SyncRecord Record, TargetView Target, bool StillInNamespace);

/// <summary>One thing the plan does, in order; an entry that cannot be synced is a step with only a <see cref="Problem"/>.</summary>
public sealed record SyncStep
{
    /// <summary>Null for an entry that failed before a plan (bad input, a missing source).</summary>
    public SyncAction? Action { get; init; }

    public required string Target { get; init; }

    /// <summary>The entry (null for Removed).</summary>
    public DesiredMount? Desired { get; init; }

    /// <summary>What Sync recorded for the target: the mount it placed there before, if any.</summary>
    public SyncRecord? Record { get; init; }

    /// <summary>The mount on top at the target when the plan was made; each change first checks it is still there.</summary>
    public ulong? MountIdBefore { get; init; }

    /// <summary>Updated: the flags to set and clear, and the propagation to set (Unchanged: none).</summary>
    public MountAttributes Set { get; init; }

    public MountAttributes Clear { get; init; }

    public MountPropagation PropagationChange { get; init; }

    /// <summary>Why this action, in words (-WhatIf, -Verbose, the Conflict error).</summary>
    public string Reason { get; init; } = string.Empty;

    /// <summary>The entry's 0-based position; -1 for Removed.</summary>
    public int EntryIndex { get; init; } = -1;

    /// <summary>Why the entry cannot be synced (also set for a Conflict).</summary>
    public Exception? Problem { get; init; }

    /// <summary>Whether carrying it out changes anything in the container.</summary>
    public bool Changes => Action is SyncAction.Added or SyncAction.Updated or SyncAction.Replaced or SyncAction.Removed;
}

/// <summary>The steps in order (the entries', then -Prune's), and the records to drop because their mount is gone.</summary>
public sealed record SyncPlan(IReadOnlyList<SyncStep> Steps, IReadOnlyList<SyncRecord> Forget);

/// <summary>
/// Decides what Sync does at each target from what it saw there, on the host and in its own records. Pure logic: every system
/// call happened before (<see cref="SyncExecutor"/>), so each rule has a plain unit test.
/// </summary>
public static class SyncPlanner
{
    /// <param name="entries">Every entry, in input order, with what was seen for it.</param>
    /// <param name="records">What Sync placed in this container before, by target.</param>
    /// <param name="prune">The recorded mounts no entry names (only with -Prune), with what is at their targets now.</param>
    /// <param name="force">Change or replace mounts Sync did not place.</param>
    public static SyncPlan Plan(IReadOnlyList<EntryView> entries, IReadOnlyDictionary<string, SyncRecord> records, IReadOnlyList<PruneView> prune, bool force)
    {
        var steps = new List<SyncStep>(entries.Count + prune.Count);
        foreach (EntryView view in entries)
        {
            steps.Add(PlanEntry(view, records, force));
        }

        var forget = new List<SyncRecord>();

        // Deepest first: a mount placed inside another placed mount goes before its parent.
        foreach (PruneView candidate in prune.OrderByDescending(p => p.Record.Target.Count(c => c == '/')).ThenBy(p => p.Record.Target, StringComparer.Ordinal))
        {
            SyncRecord record = candidate.Record;
            if (candidate.Target.Kind == TargetKind.Mounted && candidate.Target.MountId == record.MountId)
            {
                steps.Add(new SyncStep
                {
                    Action = SyncAction.Removed,
                    Target = record.Target,
                    Record = record,
                    MountIdBefore = record.MountId,
                    Reason = $"no entry names {record.Target} any more; Sync placed mount {record.MountId} there",
                });
            }
            else if (!candidate.StillInNamespace)
            {
                // Unmounted since (by the container, or by hand): nothing to unplug, and the record names nothing.
                forget.Add(record);
            }

            // Still in the namespace but not on top (another mount was stacked on it): taking it would take the other too; left, with its record.
        }

        return new SyncPlan(steps, forget);
    }

    /// <summary>What to do for one entry.</summary>
    public static SyncStep PlanEntry(EntryView view, IReadOnlyDictionary<string, SyncRecord> records, bool force)
    {
        ParsedEntry entry = view.Entry;
        if (entry.Mount is not { } desired || view.Problem is not null || view.Source is not { } source || view.Target is not { } target)
        {
            return new SyncStep
            {
                Target = entry.NormalizedTarget ?? entry.Origin.Target ?? string.Empty,
                EntryIndex = entry.Origin.Index,
                Problem = entry.Problem ?? view.Problem
                    ?? new SyncException(SyncFailure.InvalidEntry, entry.Origin.Subject, "The entry was not looked at."),
            };
        }

        records.TryGetValue(desired.Target, out SyncRecord? record);
        var step = new SyncStep { Target = desired.Target, Desired = desired, Record = record, EntryIndex = entry.Origin.Index };
        if (target.Kind != TargetKind.Mounted)
        {
            return step with
            {
                Action = SyncAction.Added,
                Reason = target.Kind == TargetKind.Missing
                    ? $"{desired.Target} does not exist: it is created and {desired.Source} attached there"
                    : $"nothing is mounted at {desired.Target}: {desired.Source} is attached there",
            };
        }

        step = step with { MountIdBefore = target.MountId };
        bool placed = record is not null && record.MountId == target.MountId;
        bool sameSource = target.DeviceMajor == source.DeviceMajor && target.DeviceMinor == source.DeviceMinor && target.Inode == source.Inode
            && target.IsDirectory == source.IsDirectory;
        MountAttributes actual = target.Flags & DesiredMount.ManagedFlags;
        bool idMapped = (target.Flags & MountAttributes.IdMap) != 0;

        // Only the records say through which user namespace a mount is idmapped, and whether it was cloned with its submounts.
        bool idMapDiffers = idMapped != desired.IdMapped || (placed && desired.IdMapped && record!.IdMapUserNamespace != view.IdMapUserNamespace);
        bool recurseDiffers = placed && record!.Recurse != desired.Recurse;
        bool propagationDiffers = !Satisfies(target.Propagation, desired.Propagation);
        var differences = new List<string>();
        if (actual != desired.Flags)
        {
            differences.Add($"it is {StagedMount.FormatAttributes(actual)}, the entry says {StagedMount.FormatAttributes(desired.Flags)}");
        }

        if (propagationDiffers)
        {
            differences.Add($"its propagation is {Describe(target.Propagation)}, the entry says {SyncText.Propagation(desired.Propagation)}");
        }

        if (idMapDiffers)
        {
            differences.Add(idMapped == desired.IdMapped ? "it is idmapped through another user namespace" : idMapped ? "it is idmapped, the entry is not" : "the entry is idmapped, the mount is not");
        }

        if (recurseDiffers)
        {
            differences.Add(desired.Recurse ? "the entry clones the mounts below the source too (Recurse)" : "it was cloned with the mounts below the source, the entry is not (Recurse)");
        }

        string what = sameSource
            ? $"mount {target.MountId} at {desired.Target} shows {desired.Source}"
            : $"mount {target.MountId} at {desired.Target} shows another source (device {target.DeviceMajor}:{target.DeviceMinor}, inode {target.Inode}; {desired.Source} is {source.DeviceMajor}:{source.DeviceMinor}, inode {source.Inode})";
        if (sameSource && differences.Count == 0)
        {
            return step with { Action = SyncAction.InSync, Reason = $"{what} as the entry says" };
        }

        string why = what + (differences.Count == 0 ? string.Empty : ", but " + string.Join("; ", differences));
        if (!placed && !force)
        {
            string message = $"{Capitalize(why)}. Sync did not place that mount{(record is null ? string.Empty : $" (it placed mount {record.MountId} there, which is gone or covered)")}, so it leaves it alone.";
            return step with
            {
                Action = SyncAction.Conflict,
                Reason = why,
                Problem = new SyncException(SyncFailure.Conflict, desired.Target, message),
            };
        }

        if (sameSource && !idMapDiffers && !recurseDiffers)
        {
            return step with
            {
                Action = SyncAction.Updated,
                Reason = why,
                Set = desired.Flags & ~actual,
                Clear = actual & ~desired.Flags,
                PropagationChange = propagationDiffers ? desired.Propagation : MountPropagation.Unchanged,
            };
        }

        // An idmap is set on a detached mount only, and a clone's submounts are fixed when it is made: only a new clone will do.
        return step with { Action = SyncAction.Replaced, Reason = why };
    }

    /// <summary>
    /// Whether a mount's propagation is what an entry asks for. A slave of nothing is private: MS_SLAVE on a mount that has no
    /// master and no peers leaves it private, so asking for Slave where the source was private is satisfied by Private, or
    /// every run would "update" it to the same state again.
    /// </summary>
    public static bool Satisfies(PropagationState actual, MountPropagation desired) => desired switch
    {
        MountPropagation.Private => actual == PropagationState.Private,
        MountPropagation.Shared => (actual & PropagationState.Shared) != 0 && (actual & PropagationState.Unbindable) == 0,
        MountPropagation.Slave => actual is PropagationState.Slave or PropagationState.Private,
        MountPropagation.Unbindable => (actual & PropagationState.Unbindable) != 0,
        _ => true,
    };

    private static string Describe(PropagationState state) =>
        state == PropagationState.Private ? "private" : string.Join("+", Enum.GetValues<PropagationState>().Where(s => s != 0 && (state & s) != 0).Select(s => s.ToString().ToLowerInvariant()));

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
