using MountHotplug.Sync;
using Xunit;

namespace MountHotplug.Tests.Sync;

/// <summary>Pure logic of Sync-ContainerMount: reading entries, and what to do at a target given what is there and what Sync placed.</summary>
public sealed class SyncPlannerTests
{
    private static readonly SourceView Source = new(254, 0, 1000, IsDirectory: true);

    private static string Resolve(string path) => Path.GetFullPath(path, "/srv");

    private static ParsedEntry Entry(params (string Name, object? Value)[] fields) =>
        DesiredMountParser.Parse(0, fields.Select(f => new KeyValuePair<string, object?>(f.Name, f.Value)), Resolve);

    private static DesiredMount Desired(params (string Name, object? Value)[] fields) =>
        Entry([("Path", "/srv/data"), ("Target", "/mnt/data"), .. fields]).Mount ?? throw new InvalidOperationException("not an entry");

    private static TargetView MountedSource(MountAttributes flags = MountAttributes.None, PropagationState propagation = PropagationState.Private,
        ulong mountId = 500) =>
        new(TargetKind.Mounted, true, mountId, Source.DeviceMajor, Source.DeviceMinor, Source.Inode, flags, propagation);

    private static TargetView MountedOther(ulong mountId = 500) => new(TargetKind.Mounted, true, mountId, 254, 0, 2000, MountAttributes.None);

    private static SyncRecord Placed(ulong mountId = 500, bool recurse = false, ulong? userns = null) =>
        new() { Target = "/mnt/data", MountId = mountId, Source = "/srv/data", Recurse = recurse, IdMapUserNamespace = userns };

    private static SyncStep Plan(DesiredMount desired, TargetView target, SyncRecord? record = null, bool force = false, ulong? userns = null)
    {
        var entry = new ParsedEntry(new EntryOrigin(0, desired.Target, desired.Source), desired, null, desired.Target);
        var records = new Dictionary<string, SyncRecord>();
        if (record is not null)
        {
            records[record.Target] = record;
        }

        return SyncPlanner.PlanEntry(new EntryView(entry, Source, target, userns), records, force);
    }

    [Fact]
    public void HashtableCsvAndJsonValuesReadAlike()
    {
        DesiredMount fromHashtable = Desired(("ReadOnly", true), ("NoSuid", true), ("Propagation", MountPropagation.Slave));
        DesiredMount fromCsv = Entry(("path", "data"), ("TARGET", "/mnt//data/"), ("readonly", "True"), ("NoSuid", "1"), ("NoDev", ""), ("NoExec", "false"),
            ("Recurse", "no"), ("Propagation", "slave"), ("IdMap", "")).Mount!;
        DesiredMount fromJson = Entry(("path", "/srv/data"), ("target", "/mnt/data"), ("readOnly", true), ("noSuid", 1L), ("propagation", "Slave")).Mount!;

        Assert.Equal(fromHashtable, fromCsv);
        Assert.Equal(fromHashtable, fromJson);
        Assert.Equal("/srv/data", fromCsv.Source);
        Assert.Equal("/mnt/data", fromCsv.Target);
        Assert.Equal("ro,nosuid", fromCsv.Attributes);
        Assert.Equal(MountAttributes.ReadOnly | MountAttributes.NoSuid, fromCsv.Flags);
        Assert.False(fromCsv.IdMapped);
    }

    [Fact]
    public void IdMapIsTheContainersOwnOrAUserNamespaceFile()
    {
        Assert.True(Desired(("IdMap", "true")).IdMapThroughContainer);
        Assert.True(Desired(("IdMap", true)).IdMapped);
        Assert.False(Desired(("IdMap", false)).IdMapped);
        DesiredMount path = Desired(("IdMap", "/proc/42/ns/user"));
        Assert.False(path.IdMapThroughContainer);
        Assert.Equal("/proc/42/ns/user", path.IdMap!.Path);
        Assert.Equal("rw,idmapped", path.Attributes);
    }

    public static TheoryData<(string, object?)[], SyncFailure, string> BadEntries => new()
    {
        { [("Path", "/srv/a")], SyncFailure.TargetMissing, "has no Target" },
        { [("Path", "/srv/a"), ("Target", "")], SyncFailure.TargetMissing, "has no Target" },
        { [("Path", "/srv/a"), ("Target", "mnt/a")], SyncFailure.InvalidTarget, "absolute path" },
        { [("Path", "/srv/a"), ("Target", "/mnt/../etc")], SyncFailure.InvalidTarget, "'..'" },
        { [("Path", "/srv/a"), ("Target", "/")], SyncFailure.InvalidTarget, "root directory" },
        { [("Target", "/mnt/a")], SyncFailure.SourceMissing, "names no host path" },
        { [("Path", "/srv/a"), ("Source", "/srv/b"), ("Target", "/mnt/a")], SyncFailure.InvalidEntry, "two sources" },
        { [("Path", "/srv/a"), ("Target", "/mnt/a"), ("ReadOnyl", true)], SyncFailure.InvalidEntry, "does not know: ReadOnyl" },
        { [("Path", "/srv/a"), ("Target", "/mnt/a"), ("ReadOnly", "maybe")], SyncFailure.InvalidEntry, "ReadOnly is 'maybe'" },
        { [("Path", "/srv/a"), ("Target", "/mnt/a"), ("NoExec", 2)], SyncFailure.InvalidEntry, "NoExec is '2'" },
        { [("Path", "/srv/a"), ("Target", "/mnt/a"), ("Propagation", "both")], SyncFailure.InvalidEntry, "Propagation is 'both'" },
        { [("Path", "/srv/a"), ("Target", "/mnt/a"), ("Propagation", "Unchanged")], SyncFailure.InvalidEntry, "Propagation is 'Unchanged'" },
    };

    [Theory]
    [MemberData(nameof(BadEntries))]
    public void EachBadEntryHasItsOwnFailureNamingTheEntry((string, object?)[] fields, SyncFailure failure, string text)
    {
        ParsedEntry parsed = Entry(fields);

        Assert.Null(parsed.Mount);
        SyncException problem = Assert.IsType<SyncException>(parsed.Problem);
        Assert.Equal(failure, problem.Failure);
        Assert.Contains(text, problem.Message);
        string? target = fields.Where(f => f.Item1 == "Target").Select(f => f.Item2 as string).FirstOrDefault();
        string? source = fields.Where(f => f.Item1 is "Path" or "Source").Select(f => f.Item2 as string).FirstOrDefault();
        Assert.Equal(string.IsNullOrEmpty(target) ? source : target, problem.Subject);
    }

    [Fact]
    public void TwoEntriesForOneTargetAreBothRefusedAndTheOthersKept()
    {
        IReadOnlyList<ParsedEntry> parsed = DesiredMountParser.ParseAll(
        [
            [new("Path", "/srv/a"), new("Target", "/mnt/x")],
            [new("Path", "/srv/b"), new("Target", "/mnt/y")],
            [new("Path", "/srv/c"), new("Target", "/mnt//x/")],
            [new("Path", "/srv/d"), new("Target", "/mnt/x"), new("ReadOnly", "perhaps")],
        ], Resolve);

        Assert.Equal([SyncFailure.DuplicateTarget, (SyncFailure?)null, SyncFailure.DuplicateTarget, SyncFailure.InvalidEntry],
            parsed.Select(p => ((SyncException?)p.Problem)?.Failure));
        Assert.Contains("Entries 1, 3, 4 all name the target '/mnt/x'", parsed[0].Problem!.Message);
        Assert.Equal("/mnt/x", ((SyncException)parsed[2].Problem!).Subject);
        Assert.All(parsed, p => Assert.NotNull(p.NormalizedTarget));
    }

    [Fact]
    public void NothingMountedIsAdded()
    {
        Assert.Equal(SyncAction.Added, Plan(Desired(), new TargetView(TargetKind.Missing)).Action);
        SyncStep step = Plan(Desired(), new TargetView(TargetKind.Unmounted), Placed());
        Assert.Equal(SyncAction.Added, step.Action);
        Assert.Null(step.MountIdBefore);
    }

    [Fact]
    public void TheSameSourceWithTheSameAttributesIsInSyncWhoeverPlacedIt()
    {
        DesiredMount desired = Desired(("ReadOnly", true), ("NoDev", true));
        TargetView there = MountedSource(MountAttributes.ReadOnly | MountAttributes.NoDev | MountAttributes.NoAtime | MountAttributes.NoSymFollow);

        Assert.Equal(SyncAction.InSync, Plan(desired, there, Placed()).Action);
        Assert.Equal(SyncAction.InSync, Plan(desired, there).Action);
        Assert.Equal(500UL, Plan(desired, there).MountIdBefore);
    }

    [Fact]
    public void OtherFlagsOnAMountSyncPlacedAreUpdatedInPlace()
    {
        SyncStep step = Plan(Desired(("ReadOnly", true), ("NoSuid", true)), MountedSource(MountAttributes.NoSuid | MountAttributes.NoExec), Placed());

        Assert.Equal(SyncAction.Updated, step.Action);
        Assert.Equal(MountAttributes.ReadOnly, step.Set);
        Assert.Equal(MountAttributes.NoExec, step.Clear);
        Assert.Equal(MountPropagation.Unchanged, step.PropagationChange);
        Assert.Contains("it is rw,nosuid,noexec, the entry says ro,nosuid", step.Reason);
    }

    [Fact]
    public void AnotherPropagationIsUpdatedAndASlaveOfNothingCountsAsSlave()
    {
        SyncStep step = Plan(Desired(), MountedSource(propagation: PropagationState.Shared), Placed());
        Assert.Equal(SyncAction.Updated, step.Action);
        Assert.Equal(MountPropagation.Private, step.PropagationChange);
        Assert.Equal(MountAttributes.None, step.Set | step.Clear);

        // MS_SLAVE on a mount without a master leaves it private: asking again would never end.
        Assert.Equal(SyncAction.InSync, Plan(Desired(("Propagation", "Slave")), MountedSource(), Placed()).Action);
        Assert.Equal(SyncAction.Updated, Plan(Desired(("Propagation", "Slave")), MountedSource(propagation: PropagationState.Shared), Placed()).Action);
        Assert.Equal(SyncAction.InSync, Plan(Desired(("Propagation", "Shared")), MountedSource(propagation: PropagationState.Shared | PropagationState.Slave)).Action);
        Assert.False(SyncPlanner.Satisfies(PropagationState.Slave, MountPropagation.Private));
        Assert.True(SyncPlanner.Satisfies(PropagationState.Unbindable, MountPropagation.Unbindable));
    }

    [Fact]
    public void AnotherSourceOnAMountSyncPlacedIsReplaced()
    {
        SyncStep step = Plan(Desired(), MountedOther(), Placed());

        Assert.Equal(SyncAction.Replaced, step.Action);
        Assert.Equal(500UL, step.MountIdBefore);
        Assert.Contains("shows another source", step.Reason);
    }

    [Fact]
    public void AnIdmapOrRecurseThatDiffersNeedsANewCloneSoItIsReplaced()
    {
        Assert.Equal(SyncAction.Replaced, Plan(Desired(("IdMap", true)), MountedSource(), Placed(), userns: 77).Action);
        Assert.Equal(SyncAction.Replaced, Plan(Desired(), MountedSource(MountAttributes.IdMap), Placed(userns: 77)).Action);
        Assert.Equal(SyncAction.Replaced, Plan(Desired(("IdMap", true)), MountedSource(MountAttributes.IdMap), Placed(userns: 77), userns: 78).Action);
        Assert.Equal(SyncAction.InSync, Plan(Desired(("IdMap", true)), MountedSource(MountAttributes.IdMap), Placed(userns: 77), userns: 77).Action);
        Assert.Equal(SyncAction.Replaced, Plan(Desired(("Recurse", true)), MountedSource(), Placed(recurse: false)).Action);

        // Of a mount Sync did not place nobody knows how it was cloned: the flags it shows are all there is to compare.
        Assert.Equal(SyncAction.InSync, Plan(Desired(("Recurse", true)), MountedSource()).Action);
    }

    [Fact]
    public void AMountSyncDidNotPlaceIsAConflictUnlessForced()
    {
        SyncStep other = Plan(Desired(), MountedOther());
        Assert.Equal(SyncAction.Conflict, other.Action);
        SyncException problem = Assert.IsType<SyncException>(other.Problem);
        Assert.Equal(SyncFailure.Conflict, problem.Failure);
        Assert.Equal("/mnt/data", problem.Subject);
        Assert.Contains("Sync did not place that mount", problem.Message);

        // A record of an earlier mount (gone or covered) does not make the mount on top Sync's.
        SyncStep covered = Plan(Desired(), MountedOther(mountId: 600), Placed(mountId: 500));
        Assert.Equal(SyncAction.Conflict, covered.Action);
        Assert.Contains("it placed mount 500 there, which is gone or covered", covered.Problem!.Message);

        Assert.Equal(SyncAction.Conflict, Plan(Desired(("ReadOnly", true)), MountedSource()).Action);
        Assert.Equal(SyncAction.Replaced, Plan(Desired(), MountedOther(), force: true).Action);
        Assert.Equal(SyncAction.Updated, Plan(Desired(("ReadOnly", true)), MountedSource(), force: true).Action);
    }

    [Fact]
    public void PruneUnplugsOnlyWhatIsStillTheRecordedMountDeepestFirst()
    {
        SyncRecord outer = Placed(mountId: 1) with { Target = "/mnt/a" };
        SyncRecord inner = Placed(mountId: 2) with { Target = "/mnt/a/b" };
        SyncRecord gone = Placed(mountId: 3) with { Target = "/mnt/gone" };
        SyncRecord covered = Placed(mountId: 4) with { Target = "/mnt/covered" };
        SyncPlan plan = SyncPlanner.Plan([], new Dictionary<string, SyncRecord>(),
        [
            new PruneView(outer, MountedSource(mountId: 1), StillInNamespace: true),
            new PruneView(inner, MountedSource(mountId: 2), StillInNamespace: true),
            new PruneView(gone, new TargetView(TargetKind.Unmounted), StillInNamespace: false),
            new PruneView(covered, MountedOther(mountId: 9), StillInNamespace: true),
        ], force: true);

        Assert.Equal(["/mnt/a/b", "/mnt/a"], plan.Steps.Select(s => s.Target));
        Assert.All(plan.Steps, s => Assert.Equal(SyncAction.Removed, s.Action));
        Assert.Equal([2UL, 1UL], plan.Steps.Select(s => s.MountIdBefore!.Value));
        Assert.Equal([gone], plan.Forget);
    }

    [Fact]
    public void EntriesKeepTheirOrderAndProblemsTheirPlace()
    {
        ParsedEntry bad = Entry(("Path", "/srv/a"));
        DesiredMount good = Desired();
        var goodEntry = new ParsedEntry(new EntryOrigin(1, good.Target, good.Source), good, null, good.Target);
        var missing = new SyncException(SyncFailure.SourceNotFound, "/srv/x", "gone");
        var looked = new ParsedEntry(new EntryOrigin(2, "/mnt/x", "/srv/x"), Desired() with { Target = "/mnt/x" }, null, "/mnt/x");

        SyncPlan plan = SyncPlanner.Plan(
            [new EntryView(bad), new EntryView(goodEntry, Source, MountedSource()), new EntryView(looked, Problem: missing)],
            new Dictionary<string, SyncRecord>(), [], force: false);

        Assert.Equal([null, SyncAction.InSync, null], plan.Steps.Select(s => s.Action));
        Assert.Equal(SyncFailure.TargetMissing, ((SyncException)plan.Steps[0].Problem!).Failure);
        Assert.Same(missing, plan.Steps[2].Problem);
        Assert.False(plan.Steps[1].Changes);
    }

    [Fact]
    public void StateFileNamesParseBackToTheirKeyAndNothingElseDoes()
    {
        var key = new SyncStateKey(4026532175, 15787, 1040395);
        Assert.Equal("4026532175-15787-1040395", key.FileStem);
        Assert.Equal(key, SyncStateKey.FromFileName(key.FileStem + ".json"));
        Assert.Equal(key, SyncStateKey.FromFileName(key.FileStem + ".lock"));
        Assert.Null(SyncStateKey.FromFileName(key.FileStem + ".tmp"));
        Assert.Null(SyncStateKey.FromFileName(".4026532175-15787-1040395.77.tmp"));
        Assert.Null(SyncStateKey.FromFileName("4026532175-15787.json"));
        Assert.Null(SyncStateKey.FromFileName("4026532175--15787-1.json"));
    }

    [Fact]
    public void JsonDocumentsGiveTheEntriesAsFields()
    {
        var entries = DesiredMountFile.ReadJson("""{ "mounts": [ { "path": "/srv/a", "target": "/mnt/a", "readOnly": true, "idMap": null }, "/srv/b" ] }""");
        Assert.Equal(2, entries.Count);
        Assert.Equal([new("path", "/srv/a"), new("target", "/mnt/a"), new("readOnly", true), new("idMap", null)], entries[0]);
        Assert.Equal([new KeyValuePair<string, object?>("Path", "/srv/b")], entries[1]);
        Assert.Single(DesiredMountFile.ReadJson("""[ { "Path": "/srv/a", "Target": "/mnt/a", "NoExec": 1 } ]"""));
        Assert.Throws<FormatException>(() => DesiredMountFile.ReadJson("""{ "entries": [] }"""));
        Assert.Throws<FormatException>(() => DesiredMountFile.ReadJson("not json"));
    }
}
