namespace MountHotplug.Sync;

/// <summary>
/// Every system call of a Sync, in one place: looking (the host's sources, the container's targets and mount table) and doing
/// (a clone as New-StagedMount makes it; the container's session for attach, atomic replace, unmount and mount_setattr of an
/// attached mount). The looking only reads: a Sync whose entries are all in sync enters no namespace and changes nothing. Each change
/// first proves that the mount it acts on is the one the plan saw, by its unique id, on the very descriptor it acts through.
/// </summary>
public sealed class SyncExecutor : IDisposable
{
    private readonly ContainerNamespace _ns;
    private readonly Dictionary<string, OpenedUserNamespace> _userNamespaces = new(StringComparer.Ordinal);
    private SafePathHandle? _root;
    private IReadOnlyList<MountEntry>? _table;
    private IdMaps? _maps;
    private bool _mapsRead;
    private ulong? _namespaceId;

    public SyncExecutor(ContainerNamespace ns, Action<string>? trace = null)
    {
        _ns = ns;
        Trace = trace;
    }

    /// <summary>Called with a description of each system call made (for -Verbose).</summary>
    public Action<string>? Trace { get; }

    /// <summary>
    /// What is at each entry's source and target now (entries that failed to parse are passed through). Reads the container's
    /// mount table once, then one openat2 and statx per target and one statx per source.
    /// </summary>
    /// <exception cref="HotplugException">The container has exited (ContainerExited).</exception>
    public IReadOnlyList<EntryView> Look(IReadOnlyList<ParsedEntry> entries)
    {
        var views = new List<EntryView>(entries.Count);
        foreach (ParsedEntry entry in entries)
        {
            if (entry.Mount is not { } desired)
            {
                views.Add(new EntryView(entry));
                continue;
            }

            try
            {
                SourceView source = LookAtSource(desired.Source, entry.Origin.Subject);
                TargetView target = LookAtTarget(desired.Target);
                ulong? userns = desired.IdMapped ? UserNamespaceFor(desired).Inode : null;
                views.Add(new EntryView(entry, source, target, userns));
            }
            catch (Exception ex) when (IsEntryFailure(ex) && ex is not HotplugException { Failure: HotplugFailure.ContainerExited })
            {
                views.Add(new EntryView(entry, Problem: ex));
            }
        }

        return views;
    }

    /// <summary>What is at the targets of mounts Sync placed and no entry names any more (-Prune).</summary>
    public IReadOnlyList<PruneView> LookAtPlaced(IEnumerable<SyncRecord> records)
    {
        var views = new List<PruneView>();
        foreach (SyncRecord record in records)
        {
            TargetView target;
            try
            {
                target = LookAtTarget(record.Target);
            }
            catch (Exception ex) when (IsEntryFailure(ex) && ex is not HotplugException { Failure: HotplugFailure.ContainerExited })
            {
                target = new TargetView(TargetKind.Missing);
            }

            bool present = NamespaceId() > 0 ? Describe(record.MountId) is not null : Table().Any(e => e.MountId == record.MountId);
            views.Add(new PruneView(record, target, present));
        }

        return views;
    }

    /// <summary>Whether an exception is the failure of one entry (an error for it) rather than of the whole run.</summary>
    public static bool IsEntryFailure(Exception ex) => ex is HotplugException or SyncException or SyscallException or IdMapException;

    /// <summary>Added: clones the source and attaches it, creating what is missing; returns the record of the new mount.</summary>
    public SyncRecord Add(SyncStep step)
    {
        DesiredMount desired = step.Desired!;
        using SafeMountHandle clone = Clone(desired);
        StatxInfo info = MountSyscalls.Statx(clone, desired.Source);
        AttachResult result = Session.Attach(clone, info, desired.Target, new AttachOptions { CreateTarget = true, CreateOwner = CreateOwner() }, Trace);

        // Put back after the container unmounted it: what Sync created the first time is still Sync's to remove.
        IReadOnlyList<string> created = (step.Record?.CreatedPaths ?? Array.Empty<string>()).Concat(result.CreatedPaths).Distinct(StringComparer.Ordinal).ToList();
        return RecordOf(desired, result.MountId, created);
    }

    /// <summary>Replaced: clones the source and swaps it in beneath the mount the plan saw on top, which is then detached.</summary>
    public SyncRecord Replace(SyncStep step)
    {
        DesiredMount desired = step.Desired!;
        using SafeMountHandle clone = Clone(desired);
        StatxInfo info = MountSyscalls.Statx(clone, desired.Source);
        AttachResult result = Session.Attach(clone, info, desired.Target, new AttachOptions { Replace = true, ExpectedTop = step.MountIdBefore }, Trace);
        return RecordOf(desired, result.MountId, step.Record?.CreatedPaths ?? Array.Empty<string>());
    }

    /// <summary>Updated: mount_setattr on the mount at the target, in place, after checking it is still the one the plan saw.</summary>
    public SyncRecord Update(SyncStep step)
    {
        DesiredMount desired = step.Desired!;
        SetAttributes(desired.Target, step.MountIdBefore!.Value, step.Set, step.Clear, step.PropagationChange, desired.Recurse,
            $"set {StagedMount.FormatAttributes(desired.Flags)}{(step.PropagationChange == MountPropagation.Unchanged ? string.Empty : ", propagation=" + SyncText.Propagation(step.PropagationChange))}");
        return step.Record is { } placed && placed.MountId == step.MountIdBefore
            ? placed with { Source = desired.Source, Flags = desired.Flags, Propagation = desired.Propagation }
            : RecordOf(desired, step.MountIdBefore!.Value, Array.Empty<string>());
    }

    /// <summary>
    /// After an attach: a mount attached under a shared mount becomes shared itself (the kernel joins it to the parent's
    /// propagation), whatever the clone was. Set it to what the entry says, so that the next run finds it in sync.
    /// </summary>
    public void MatchPropagation(SyncRecord placed)
    {
        if (Describe(placed.MountId) is not { } now || SyncPlanner.Satisfies(now.Propagation, placed.Propagation))
        {
            return;
        }

        SetAttributes(placed.Target, placed.MountId, MountAttributes.None, MountAttributes.None, placed.Propagation, recursive: false,
            $"propagation={SyncText.Propagation(placed.Propagation)} (it became {now.PropagationText} under a shared parent)");
    }

    /// <summary>Removed (-Prune): unmounts the mount Sync placed, by its id, and removes what Sync created to reach it.</summary>
    public IReadOnlyList<RemovedPath> Remove(SyncStep step)
    {
        SyncRecord record = step.Record!;
        Session.Unmount(record.Target, lazy: false, expectedMountId: record.MountId, trace: Trace);
        return Session.RemoveCreatedPaths(record.CreatedPaths, Trace);
    }

    public void Dispose()
    {
        _root?.Dispose();
        _root = null;
        foreach (OpenedUserNamespace userns in _userNamespaces.Values)
        {
            userns.Dispose();
        }

        _userNamespaces.Clear();
    }

    // The container's own session: its kept namespace thread serves Sync too, and it is not ended here.
    private ContainerSession Session => _ns.Session;

    private SyncRecord RecordOf(DesiredMount desired, ulong mountId, IReadOnlyList<string> createdPaths) => new()
    {
        Target = desired.Target,
        MountId = mountId,
        Source = desired.Source,
        Flags = desired.Flags,
        Propagation = desired.Propagation,
        Recurse = desired.Recurse,
        IdMapUserNamespace = desired.IdMapped ? UserNamespaceFor(desired).Inode : null,
        CreatedPaths = createdPaths,
        Placed = DateTime.UtcNow,
    };

    // The clone New-StagedMount makes: open_tree(OPEN_TREE_CLONE), then its attributes set on the detached mount. Unlike
    // New-StagedMount, flags the entry does not ask for are cleared, so a clone of a read-only host mount is what the entry says.
    private SafeMountHandle Clone(DesiredMount desired)
    {
        OpenTreeFlags flags = OpenTreeFlags.Clone | (desired.Recurse ? OpenTreeFlags.Recursive : OpenTreeFlags.None);
        SafeMountHandle handle = MountSyscalls.OpenTree(null, desired.Source, flags);
        try
        {
            Trace?.Invoke($"open_tree(AT_FDCWD, \"{desired.Source}\", {flags}) = fd {handle.DescriptorNumber}");
            MountAttributes clear = DesiredMount.ManagedFlags & ~desired.Flags;
            MountSyscalls.MountSetAttr(handle, desired.Flags, clear, desired.Propagation, desired.Recurse, desired.Source);
            Trace?.Invoke($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{(desired.Recurse ? "|AT_RECURSIVE" : string.Empty)}, {{attr_set={StagedMount.FormatAttributes(desired.Flags)}, attr_clr={MountOptions.Format(clear)}, propagation={desired.Propagation}}}) = 0");
            if (desired.IdMapped)
            {
                OpenedUserNamespace userns = UserNamespaceFor(desired);
                IdMapping.Apply(handle, userns, desired.Source, desired.Recurse);
                Trace?.Invoke($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH, {{attr_set=MOUNT_ATTR_IDMAP, userns_fd={userns.Handle.DescriptorNumber}}}) = 0 ({userns.Description})");
            }

            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    // The kernel changes an attached mount only for a caller inside its namespace: mount_setattr runs on the namespace thread,
    // through a descriptor resolved in the container's root and proven to be the expected mount.
    private void SetAttributes(string target, ulong expectedId, MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive,
        string change)
    {
        MountPoint mount;
        try
        {
            mount = MountPoint.Open(target, _ns);
        }
        catch (SyscallException ex)
        {
            throw new SyncException(SyncFailure.MountChanged, target, $"'{target}' cannot be looked up inside the container any more; nothing was changed.", ex);
        }

        using (mount)
        {
            StatxInfo info = mount.Stat();
            if (!info.IsMountRoot || info.MountId != expectedId)
            {
                throw new SyncException(SyncFailure.MountChanged, target,
                    $"The mount on top at '{target}' is now {(info.IsMountRoot ? $"mount {info.MountId}" : "none")}, not mount {expectedId} that the plan saw; nothing was changed.");
            }

            mount.SetAttributes(set, clear, propagation, recursive, Trace, change);
        }
    }

    private SourceView LookAtSource(string source, object subject)
    {
        int errno = MountSyscalls.TryStatxPath(source, uniqueMountId: true, out StatxInfo info);
        Trace?.Invoke($"statx(\"{source}\") = {(errno == 0 ? $"{info.KindName} {info.DeviceMajor}:{info.DeviceMinor} inode {info.Inode}" : ErrnoText.Name(errno))}");
        if (errno is (int)Errno.ENOENT or (int)Errno.ENOTDIR)
        {
            throw new SyncException(SyncFailure.SourceNotFound, subject, $"The source '{source}' does not exist on the host; nothing was done for this entry.",
                SyscallException.Create("statx", errno, source));
        }

        if (errno != 0)
        {
            throw SyscallException.Create("statx", errno, source);
        }

        return new SourceView(info.DeviceMajor, info.DeviceMinor, info.Inode, info.IsDirectory);
    }

    // Resolved as Move-MountIntoNamespace resolves a target (inside the process's own root, a link in the last component not
    // followed); the mount on top is then found in the table by its unique id, which is where its attributes are.
    private TargetView LookAtTarget(string target)
    {
        using SafePathHandle? handle = InRootPath.TryOpen(Root(), target, InRootPath.LastComponent, out int errno);
        if (handle is null)
        {
            Trace?.Invoke($"openat2(/proc/{_ns.ProcessId}/root, \"{target}\", O_PATH|O_NOFOLLOW, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) = {ErrnoText.Name(errno)}");
            return errno == (int)Errno.ENOENT
                ? new TargetView(TargetKind.Missing)
                : throw new HotplugException(HotplugFailure.InvalidTarget, target, $"'{target}' cannot be resolved safely inside the container.",
                    SyscallException.Create("openat2", errno, target));
        }

        StatxInfo info = MountSyscalls.Statx(handle, target);
        Trace?.Invoke($"openat2(/proc/{_ns.ProcessId}/root, \"{target}\", O_PATH|O_NOFOLLOW, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) + statx = {info.KindName}{(info.IsMountRoot ? $", mount {info.MountId}, root {info.DeviceMajor}:{info.DeviceMinor} inode {info.Inode}" : ", not a mount point")}");
        if (info.IsSymlink)
        {
            throw new HotplugException(HotplugFailure.TargetIsSymlink, target,
                $"'{target}' is a symbolic link inside the container; a mount is never placed through a link in the last component, which the container could point anywhere inside it.");
        }

        if (!info.IsMountRoot)
        {
            return new TargetView(TargetKind.Unmounted, info.IsDirectory);
        }

        MountEntry mount = Describe(info.MountId) ?? MountTable.FindMountOf(Table(), handle)
            ?? throw new SyncException(SyncFailure.MountChanged, target, $"Mount {info.MountId} at '{target}' is not in the container's mount table any more (it changed while Sync looked).");
        return new TargetView(TargetKind.Mounted, info.IsDirectory, info.MountId, info.DeviceMajor, info.DeviceMinor, info.Inode,
            mount.AttributeFlags, mount.Propagation);
    }

    // The kernel's 64-bit id of the container's mount namespace, which statmount takes to find a mount there (6.11+); 0 without.
    private ulong NamespaceId()
    {
        if (_namespaceId is null)
        {
            using SafeNamespaceHandle ns = MountSyscalls.OpenMountNamespace(_ns.Pidfd, _ns.ProcessId);
            MountSyscalls.TryGetMountNamespaceId(ns, out ulong id);
            _namespaceId = id;
        }

        return _namespaceId.Value;
    }

    /// <summary>
    /// One mount of the container by its unique id, from statmount with the namespace's id (Linux 6.11): what the kernel says
    /// of it now, without reading the whole table. Null when the kernel cannot say (then the table is read) or it is gone.
    /// </summary>
    private MountEntry? Describe(ulong mountId)
    {
        if (NamespaceId() is not (> 0 and ulong id))
        {
            return null;
        }

        MountEntry? entry = MountTable.StatOne(mountId, id, root: null);
        Trace?.Invoke($"statmount(mount {mountId}, mnt_ns_id {id}) = {(entry is null ? "not found" : $"{entry.Options}, {entry.PropagationText}")}");
        return entry;
    }

    private SafePathHandle Root() => _root ??= ContainerSession.OpenProcessRoot(_ns, "/");

    private IReadOnlyList<MountEntry> Table()
    {
        if (_table is null)
        {
            try
            {
                _table = MountTable.Read(_ns.Pidfd, _ns.ProcessId, trace: Trace);
            }
            catch (SyscallException ex) when (ex.Errno == Errno.ESRCH)
            {
                throw new HotplugException(HotplugFailure.ContainerExited, "/", $"The container process {_ns.ProcessId} has exited; nothing was changed in its namespace.", ex);
            }
        }

        return _table;
    }

    private OpenedUserNamespace UserNamespaceFor(DesiredMount desired)
    {
        IdMapSource source = desired.IdMap ?? new IdMapSource(_ns);
        string key = source.Container is { } ns ? $"pid:{ns.ProcessId}:{ns.ProcessStartTime}" : $"path:{source.Path}";
        if (!_userNamespaces.TryGetValue(key, out OpenedUserNamespace? userns))
        {
            userns = IdMapping.Open(source, path => path);
            Trace?.Invoke($"open({userns.Description}) = fd {userns.Handle.DescriptorNumber}, user namespace {userns.Inode}");
            _userNamespaces[key] = userns;
        }

        return userns;
    }

    // Created directories belong to the container's root, as Move-MountIntoNamespace -CreateTarget makes them.
    private (uint Uid, uint Gid)? CreateOwner()
    {
        if (!_mapsRead && _ns.HasOwnUserNamespace)
        {
            _mapsRead = true;
            try
            {
                _maps = _ns.ReadIdMaps();
            }
            catch (Exception ex) when (ex is SyscallException or IOException or FormatException or UnauthorizedAccessException)
            {
                // An exited container fails the attach itself with ContainerExited.
            }
        }

        return _maps?.RootOnHost;
    }
}
