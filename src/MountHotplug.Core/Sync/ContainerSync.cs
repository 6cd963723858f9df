namespace MountHotplug.Sync;

/// <summary>
/// One Sync of one container: takes the container's state lock and reads what Sync placed there before, looks at every entry
/// (<see cref="Plan"/>), then carries out the plan's steps one by one (<see cref="Perform"/>, so that a caller can ask before
/// each), and writes the state back (<see cref="Commit"/>) only when a step changed it. Usable from any .NET program; the
/// cmdlet binds parameters and writes what this returns.
/// </summary>
public sealed class ContainerSync : IDisposable
{
    private readonly ContainerNamespace _ns;
    private readonly SyncStateStore _store;
    private readonly SyncExecutor _executor;
    private readonly Dictionary<string, SyncRecord> _records;
    private bool _changed;

    private ContainerSync(ContainerNamespace ns, SyncStateStore store, Dictionary<string, SyncRecord> records, Action<string>? trace)
    {
        _ns = ns;
        _store = store;
        _records = records;
        _executor = new SyncExecutor(ns, trace);
    }

    /// <summary>What Sync has placed in the container, by target (as read, and as changed by the steps carried out since).</summary>
    public IReadOnlyDictionary<string, SyncRecord> Records => _records;

    /// <summary>Takes the container's state lock and reads its records.</summary>
    /// <exception cref="SyncStateException">The state cannot be read or is not to be trusted.</exception>
    /// <exception cref="ObjectDisposedException">The namespace object was disposed.</exception>
    public static ContainerSync Begin(ContainerNamespace ns, string stateDirectory = SyncStateStore.DefaultDirectory, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(ns);
        _ = ns.Pidfd; // a disposed namespace fails here, before any file is touched
        SyncStateStore store = SyncStateStore.Open(SyncStateKey.Of(ns), stateDirectory, trace);
        try
        {
            return new ContainerSync(ns, store, store.Read(), trace);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Looks at every entry (and, with <paramref name="prune"/>, at the placed mounts no entry names) and plans. Changes nothing.</summary>
    /// <exception cref="HotplugException">The container has exited (ContainerExited).</exception>
    public SyncPlan Plan(IReadOnlyList<ParsedEntry> entries, bool prune, bool force)
    {
        IReadOnlyList<EntryView> views = _executor.Look(entries);
        var named = entries.Select(e => e.NormalizedTarget).OfType<string>().ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<PruneView> unnamed = prune
            ? _executor.LookAtPlaced(_records.Values.Where(r => !named.Contains(r.Target)).ToList())
            : Array.Empty<PruneView>();
        return SyncPlanner.Plan(views, _records, unnamed, force);
    }

    /// <summary>The result row of a step that is not carried out: in sync, a conflict, or only planned (-WhatIf).</summary>
    public SyncResult Describe(SyncStep step, bool whatIf) => Result(step, step.MountIdBefore, whatIf);

    /// <summary>Carries out one changing step; the records follow at once, so a failure later in the run loses nothing.</summary>
    /// <exception cref="HotplugException">The attach, replace or unmount failed (nothing of it is left).</exception>
    /// <exception cref="SyscallException">The clone or mount_setattr failed.</exception>
    /// <exception cref="SyncException">The mount at the target is no longer the one the plan saw.</exception>
    public SyncResult Perform(SyncStep step)
    {
        switch (step.Action)
        {
            case SyncAction.Added or SyncAction.Replaced:
            {
                SyncRecord placed = step.Action == SyncAction.Added ? _executor.Add(step) : _executor.Replace(step);
                Keep(placed);
                _executor.MatchPropagation(placed);
                return Result(step, placed.MountId, whatIf: false);
            }

            case SyncAction.Updated:
            {
                SyncRecord updated = _executor.Update(step);
                Keep(updated);
                return Result(step, updated.MountId, whatIf: false);
            }

            case SyncAction.Removed:
            {
                SyncRecord record = step.Record!;
                _executor.Remove(step);
                _records.Remove(record.Target);
                _changed = true;
                return Result(step, null, whatIf: false);
            }

            default:
                throw new ArgumentException($"A {step.Action} step changes nothing; describe it instead.", nameof(step));
        }
    }

    /// <summary>Drops the records of placed mounts that are gone (unmounted by the container or by hand): they name nothing now.</summary>
    public void Forget(IEnumerable<SyncRecord> records)
    {
        foreach (SyncRecord record in records)
        {
            if (_records.TryGetValue(record.Target, out SyncRecord? kept) && kept.MountId == record.MountId)
            {
                _records.Remove(record.Target);
                _changed = true;
            }
        }
    }

    /// <summary>Writes the records back when a step changed them; a run that changed nothing writes nothing.</summary>
    public void Commit()
    {
        if (_changed)
        {
            _store.Write(_records.Values);
            _changed = false;
        }
    }

    /// <summary>Ends the namespace threads and releases the state lock. Call <see cref="Commit"/> first.</summary>
    public void Dispose()
    {
        _executor.Dispose();
        _store.Dispose();
    }

    private void Keep(SyncRecord record)
    {
        _records[record.Target] = record;
        _changed = true;
    }

    private SyncResult Result(SyncStep step, ulong? after, bool whatIf)
    {
        if (step.Desired is { } desired)
        {
            return new SyncResult(step.Target, step.Action!.Value, desired.Source, desired.Attributes, desired.Propagation, step.MountIdBefore, after, whatIf, _ns);
        }

        SyncRecord record = step.Record!;
        return new SyncResult(step.Target, step.Action!.Value, record.Source, SyncText.Attributes(record.Flags, record.IdMapUserNamespace is not null),
            record.Propagation, step.MountIdBefore, after, whatIf, _ns);
    }
}
