using System.Runtime.CompilerServices;

namespace MountHotplug;

/// <summary>
/// Reads the mount table of a mount namespace: the caller's, or that of a process pinned by a pidfd. With listmount and
/// statmount (Linux 6.8; 6.11 for another namespace, addressed by its NS_GET_MNTNS_ID id) where the kernel has them, else by
/// parsing /proc/PID/mountinfo. Either way the entries describe the same mounts with the same values, mount points relative
/// to the process's own root as mountinfo shows them; the two readers are tested against each other.
/// </summary>
public static class MountTable
{
    private const StatMountMask Requested = StatMountMask.SuperBlockBasic | StatMountMask.MountBasic | StatMountMask.PropagateFrom
        | StatMountMask.MountRoot | StatMountMask.MountPoint | StatMountMask.FileSystemType | StatMountMask.MountNamespaceId
        | StatMountMask.MountOptions | StatMountMask.FileSystemSubtype | StatMountMask.SuperBlockSource | StatMountMask.SupportedMask
        | StatMountMask.UidMap | StatMountMask.GidMap;

    // What an entry cannot be made without; the kernels that lack sb_source (6.8-6.12) are read through mountinfo instead.
    private const StatMountMask Needed = StatMountMask.SuperBlockBasic | StatMountMask.MountBasic | StatMountMask.MountRoot
        | StatMountMask.MountPoint | StatMountMask.FileSystemType | StatMountMask.SuperBlockSource;

    private const ulong MsUnbindable = 0x20000, MsSlave = 0x80000, MsShared = 0x100000;
    private const uint SbReadOnly = 0x1, SbSynchronous = 0x10, SbDirSync = 0x80, SbLazyTime = 0x2000000;

    /// <summary>The mount table of the calling thread's mount namespace, mount points relative to this process's root.</summary>
    public static IReadOnlyList<MountEntry> Read(MountTableSource source = MountTableSource.Auto)
    {
        ulong namespaceId = OwnNamespaceId();
        if (source != MountTableSource.MountInfo && TryReadWithListMount(0, namespaceId, null, source == MountTableSource.ListMount) is { } entries)
        {
            return entries;
        }

        return FromMountInfo(File.ReadAllText("/proc/thread-self/mountinfo"), namespaceId);
    }

    /// <summary>
    /// The mount table of the mount namespace of the process <paramref name="pidfd"/> pins, as that process sees it: mount
    /// points relative to its own root (for a chroot container, the chroot directory), mounts outside that root left out.
    /// </summary>
    /// <param name="trace">Called with a description of how the table was read (for -Verbose).</param>
    /// <exception cref="SyscallException">The process has exited (ESRCH), or, with <see cref="MountTableSource.ListMount"/>, the kernel lacks the calls.</exception>
    public static IReadOnlyList<MountEntry> Read(SafePidfdHandle pidfd, int pid, MountTableSource source = MountTableSource.Auto, Action<string>? trace = null)
    {
        if (!MountSyscalls.IsAlive(pidfd))
        {
            throw MountSyscalls.Exited(pid);
        }

        ulong namespaceId;
        using (SafeNamespaceHandle ns = MountSyscalls.OpenMountNamespace(pidfd, pid))
        {
            MountSyscalls.TryGetMountNamespaceId(ns, out namespaceId);
        }

        if (source != MountTableSource.MountInfo && namespaceId != 0)
        {
            string root = ProcessRoot(pidfd, pid);
            bool foreign = namespaceId != OwnNamespaceId();
            if (TryReadWithListMount(namespaceId, namespaceId, root, source == MountTableSource.ListMount) is { } entries)
            {
                trace?.Invoke($"listmount(LSMT_ROOT, mnt_ns_id {namespaceId}) + statmount: {entries.Count} mounts below the process root '{root}'");
                return foreign ? AddPropagateFrom(entries, pidfd, pid, trace) : entries;
            }
        }
        else if (source == MountTableSource.ListMount)
        {
            throw SyscallException.Create("ioctl(NS_GET_MNTNS_ID)", (int)Errno.ENOSYS, $"/proc/{pid}/ns/mnt",
                detail: "This kernel cannot name another mount namespace to listmount (Linux 6.11 or later can).");
        }

        string text = File.ReadAllText($"/proc/{pid}/mountinfo");
        if (!MountSyscalls.IsAlive(pidfd))
        {
            throw MountSyscalls.Exited(pid, $"/proc/{pid}/mountinfo");
        }

        trace?.Invoke($"read /proc/{pid}/mountinfo");
        return FromMountInfo(text, namespaceId);
    }

    /// <summary>Entries from mountinfo text; <paramref name="namespaceId"/> is the id to record (mountinfo does not show it).</summary>
    public static IReadOnlyList<MountEntry> FromMountInfo(string text, ulong namespaceId) =>
        MountInfoParser.Parse(text).Select(row => FromMountInfo(row, namespaceId)).ToList();

    public static MountEntry FromMountInfo(MountInfo row, ulong namespaceId) => new()
    {
        OldMountId = row.MountId,
        OldParentId = row.ParentId,
        DeviceMajor = row.DeviceMajor,
        DeviceMinor = row.DeviceMinor,
        Root = row.Root,
        MountPoint = row.MountPoint,
        FileSystemType = row.FileSystemType,
        Source = row.Source,
        AttributeFlags = MountOptions.Parse(row.Options),
        Options = row.Options,
        SuperOptions = row.SuperOptions,
        Propagation = row.Propagation,
        PeerGroup = (ulong)row.PeerGroup,
        Master = (ulong)row.Master,
        PropagateFrom = (ulong)row.PropagateFrom,
        NamespaceId = namespaceId,
        ReadWith = MountTableSource.MountInfo,
    };

    /// <summary>
    /// The entry of the mount a descriptor is on (statx's mount id: the unique one for a listmount table, the mountinfo one
    /// otherwise); null when the table does not hold it (a detached mount, or one of another namespace).
    /// </summary>
    public static MountEntry? FindMountOf(IReadOnlyList<MountEntry> entries, SafeHandle handle)
    {
        if (entries.Count > 0 && entries[0].ReadWith == MountTableSource.ListMount)
        {
            StatxInfo unique = MountSyscalls.Statx(handle);
            if (unique.MountIdIsUnique)
            {
                return entries.LastOrDefault(e => e.MountId == unique.MountId);
            }
        }

        StatxInfo old = MountSyscalls.Statx(handle, uniqueMountId: false);
        return entries.LastOrDefault(e => (ulong)e.OldMountId == old.MountId);
    }

    /// <summary>The kernel's id of the calling thread's mount namespace; 0 before Linux 6.11.</summary>
    public static ulong OwnNamespaceId()
    {
        using SafeNamespaceHandle own = MountSyscalls.OpenOwnMountNamespace();
        MountSyscalls.TryGetMountNamespaceId(own, out ulong id);
        return id;
    }

    /// <summary>The process's root as the namespace's root sees it (readlink /proc/PID/root), proven through the pidfd to be that process's.</summary>
    /// <summary>
    /// One mount of the namespace <paramref name="namespaceId"/> by its unique id (statmount), as a process with the root
    /// <paramref name="root"/> sees it; null when it is gone, or outside that root.
    /// </summary>
    public static MountEntry? StatOne(ulong mountId, ulong namespaceId, string? root) =>
        ReadSlice(new List<ulong> { mountId }, 0, 1, namespaceId, namespaceId, root).Entries.FirstOrDefault();

    internal static string ProcessRoot(SafePidfdHandle pidfd, int pid)
    {
        string? root;
        try
        {
            root = new FileInfo($"/proc/{pid}/root").LinkTarget;
        }
        catch (IOException) when (!MountSyscalls.IsAlive(pidfd))
        {
            throw MountSyscalls.Exited(pid, $"/proc/{pid}/root");
        }

        if (!MountSyscalls.IsAlive(pidfd))
        {
            throw MountSyscalls.Exited(pid, $"/proc/{pid}/root");
        }

        if (root is null)
        {
            throw new IOException($"/proc/{pid}/root is not a link (this /proc is not the one of this pid namespace).");
        }

        return root;
    }

    private static unsafe List<MountEntry>? TryReadWithListMount(ulong listNamespaceId, ulong namespaceId, string? root, bool required)
    {
        List<ulong>? ids = ListIds(listNamespaceId, out int errno);
        if (ids is null)
        {
            if (required || errno is not ((int)Errno.ENOSYS or (int)Errno.EINVAL or (int)Errno.E2BIG or (int)Errno.EOPNOTSUPP))
            {
                throw SyscallException.Create("listmount", errno, root);
            }

            return null;
        }

        // statmount is one system call per mount and takes the namespace lock only for reading, so the ids are read
        // in as many slices as there are cores: a 10,000-mount table is mostly these calls and the strings they return.
        // The calling thread reads the first slice and thread-pool tasks the others: Parallel.For's generic code over int
        // is not in the framework's ReadyToRun images, so it cost the session's first listing a dozen JIT compilations.
        int slices = ids.Count < 512 ? 1 : Math.Clamp(Environment.ProcessorCount, 1, 4);
        var results = new SliceResult[slices];
        var others = new Task<SliceResult>[slices - 1];
        for (int slice = 1; slice < slices; slice++)
        {
            int from = ids.Count * slice / slices, to = ids.Count * (slice + 1) / slices;
            others[slice - 1] = Task.Run(() => ReadSlice(ids, from, to, listNamespaceId, namespaceId, root));
        }

        results[0] = ReadSlice(ids, 0, ids.Count / slices, listNamespaceId, namespaceId, root);
        for (int slice = 1; slice < slices; slice++)
        {
            results[slice] = others[slice - 1].GetAwaiter().GetResult();
        }

        var entries = new List<MountEntry>(ids.Count);
        bool sourceSeen = false;
        foreach (SliceResult result in results)
        {
            if (result.Errno != 0)
            {
                if (!required && result.Errno is (int)Errno.ENOSYS or (int)Errno.EINVAL or (int)Errno.E2BIG)
                {
                    return null;
                }

                throw SyscallException.Create("statmount", result.Errno, $"mount {result.FailedId}");
            }

            if (result.IncompleteKernel)
            {
                return NotSupported(required, "statmount of this kernel cannot describe a mount completely (no sb_source)");
            }

            sourceSeen |= result.SourceSeen;
            entries.AddRange(result.Entries);
        }

        // Kernels before the supported-mask field: a kernel with sb_source shows one for nearly every mount.
        if (!sourceSeen && entries.Count > 0)
        {
            return NotSupported(required, "statmount of this kernel does not report mount sources (Linux 6.13 or later does)");
        }

        return entries;
    }

    private sealed record SliceResult(List<MountEntry> Entries, bool SourceSeen, bool IncompleteKernel, int Errno, ulong FailedId);

    /// <summary>statmount of ids[from..to) into entries; stops at the first failure (an errno other than ENOENT).</summary>
    private static unsafe SliceResult ReadSlice(List<ulong> ids, int from, int to, ulong listNamespaceId, ulong namespaceId, string? root)
    {
        var entries = new List<MountEntry>(to - from);
        byte[] buffer = new byte[16 * 1024];
        bool sourceSeen = false;
        for (int i = from; i < to; i++)
        {
            ulong id = ids[i];
            int statErrno;
            while (true)
            {
                fixed (byte* b = buffer)
                {
                    statErrno = MountSyscalls.TryStatMount(id, listNamespaceId, Requested, b, buffer.Length);
                }

                if (statErrno != (int)Errno.EOVERFLOW || buffer.Length >= 1 << 24)
                {
                    break;
                }

                buffer = new byte[buffer.Length * 4];
            }

            if (statErrno == (int)Errno.ENOENT)
            {
                continue; // unmounted since listmount
            }

            if (statErrno != 0)
            {
                return new SliceResult(entries, sourceSeen, false, statErrno, id);
            }

            fixed (byte* b = buffer)
            {
                var mask = (StatMountMask)U64(b, StatMountLayout.Mask);
                if ((mask & StatMountMask.SupportedMask) != 0 && ((StatMountMask)U64(b, StatMountLayout.SupportedMask) & Needed) != Needed)
                {
                    return new SliceResult(entries, sourceSeen, true, 0, id);
                }

                sourceSeen |= (mask & StatMountMask.SuperBlockSource) != 0;
                if (ToEntry(b, mask, namespaceId, root) is { } entry)
                {
                    entries.Add(entry);
                }
            }
        }

        return new SliceResult(entries, sourceSeen, false, 0, 0);
    }

    private static List<MountEntry>? NotSupported(bool required, string why) =>
        required ? throw SyscallException.Create("statmount", (int)Errno.EOPNOTSUPP, detail: why) : null;

    private static unsafe List<ulong>? ListIds(ulong namespaceId, out int errno)
    {
        var ids = new List<ulong>();
        ulong[] batch = new ulong[4096];
        ulong after = 0;
        while (true)
        {
            long count;
            fixed (ulong* p = batch)
            {
                count = MountSyscalls.TryListMount(MountSyscalls.ListMountRoot, namespaceId, after, p, batch.Length, out errno);
            }

            if (count < 0)
            {
                return null;
            }

            for (int i = 0; i < count; i++)
            {
                ids.Add(batch[i]);
            }

            if (count < batch.Length)
            {
                errno = 0;
                return ids;
            }

            after = batch[count - 1];
        }
    }

    private static unsafe MountEntry? ToEntry(byte* b, StatMountMask mask, ulong namespaceId, string? root)
    {
        string mountPoint = String(b, StatMountLayout.MountPoint, mask, StatMountMask.MountPoint) ?? "/";
        if (root is not null && root != "/")
        {
            // statmount names mount points from the namespace's root; mountinfo (and everything resolved inside the
            // process's root, like -Path and Remove-Mount) from the process's root, which skips what lies outside it.
            if (mountPoint == root)
            {
                mountPoint = "/";
            }
            else if (mountPoint.StartsWith(root + "/", StringComparison.Ordinal))
            {
                mountPoint = mountPoint[root.Length..];
            }
            else
            {
                return null;
            }
        }

        ulong propagation = U64(b, StatMountLayout.Propagation);
        var state = PropagationState.Private;
        if ((propagation & MsShared) != 0) state |= PropagationState.Shared;
        if ((propagation & MsSlave) != 0) state |= PropagationState.Slave;
        if ((propagation & MsUnbindable) != 0) state |= PropagationState.Unbindable;

        var attributes = (MountAttributes)U64(b, StatMountLayout.MountAttributes);
        string type = String(b, StatMountLayout.FileSystemType, mask, StatMountMask.FileSystemType) ?? string.Empty;
        if (String(b, StatMountLayout.FileSystemSubtype, mask, StatMountMask.FileSystemSubtype) is { Length: > 0 } subtype)
        {
            type = $"{type}.{subtype}";
        }

        uint superFlags = U32(b, StatMountLayout.SuperBlockFlags);
        string superOptions = (superFlags & SbReadOnly) != 0 ? "ro" : "rw";
        if ((superFlags & (SbSynchronous | SbDirSync | SbLazyTime)) != 0)
        {
            superOptions += ((superFlags & SbSynchronous) != 0 ? ",sync" : "") + ((superFlags & SbDirSync) != 0 ? ",dirsync" : "")
                + ((superFlags & SbLazyTime) != 0 ? ",lazytime" : "");
        }

        if (String(b, StatMountLayout.MountOptions, mask, StatMountMask.MountOptions) is { Length: > 0 } options)
        {
            superOptions = string.Concat(superOptions, ",", options);
        }

        return new MountEntry
        {
            MountId = U64(b, StatMountLayout.MountId),
            OldMountId = (int)U32(b, StatMountLayout.OldMountId),
            ParentId = U64(b, StatMountLayout.ParentId),
            OldParentId = (int)U32(b, StatMountLayout.OldParentId),
            DeviceMajor = U32(b, StatMountLayout.DeviceMajor),
            DeviceMinor = U32(b, StatMountLayout.DeviceMinor),
            Root = String(b, StatMountLayout.MountRoot, mask, StatMountMask.MountRoot) ?? "/",
            MountPoint = mountPoint,
            FileSystemType = type,
            Source = String(b, StatMountLayout.SuperBlockSource, mask, StatMountMask.SuperBlockSource) is { Length: > 0 } source ? source : "none",
            AttributeFlags = attributes,
            Options = MountOptions.Format(attributes),
            SuperOptions = superOptions,
            Propagation = state,
            PeerGroup = U64(b, StatMountLayout.PeerGroup),
            Master = U64(b, StatMountLayout.Master),
            PropagateFrom = PropagateFromOf(mask, U64(b, StatMountLayout.PropagateFrom), U64(b, StatMountLayout.Master)),
            UidMap = Strings(b, StatMountLayout.UidMapCount, StatMountLayout.UidMap, mask, StatMountMask.UidMap),
            GidMap = Strings(b, StatMountLayout.GidMapCount, StatMountLayout.GidMap, mask, StatMountMask.GidMap),
            NamespaceId = (mask & StatMountMask.MountNamespaceId) != 0 ? U64(b, StatMountLayout.MountNamespaceId) : namespaceId,
            ReadWith = MountTableSource.ListMount,
        };
    }

    /// <summary>
    /// The kernel computes propagate_from against the caller's root, so statmount from outside the namespace finds nothing.
    /// It only matters for a slave whose master group has no member in sight; for those few, /proc/PID/mountinfo has it,
    /// computed against that process's root, as the mount points here are. No thread enters the namespace for it.
    /// </summary>
    private static IReadOnlyList<MountEntry> AddPropagateFrom(List<MountEntry> entries, SafePidfdHandle pidfd, int pid, Action<string>? trace)
    {
        if (!entries.Exists(e => e.Master != 0 || e.PropagateFrom != 0))
        {
            return entries; // no slave (the common case): no set to build
        }

        var visibleGroups = new HashSet<ulong>();
        foreach (MountEntry entry in entries)
        {
            if (entry.PeerGroup != 0)
            {
                visibleGroups.Add(entry.PeerGroup);
            }
        }

        var needed = new List<int>();
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i].Master != 0 && !visibleGroups.Contains(entries[i].Master))
            {
                needed.Add(i);
            }
            else if (entries[i].PropagateFrom != 0)
            {
                entries[i] = entries[i] with { PropagateFrom = 0 };
            }
        }

        if (needed.Count == 0)
        {
            return entries;
        }

        string text = File.ReadAllText($"/proc/{pid}/mountinfo");
        if (!MountSyscalls.IsAlive(pidfd))
        {
            throw SyscallException.Create("open", (int)Errno.ESRCH, $"/proc/{pid}/mountinfo");
        }

        // Only lines with the field are parsed: a space in a mount point is escaped, so the text cannot come from a path.
        var shown = new Dictionary<int, MountInfo>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Contains(" propagate_from:", StringComparison.Ordinal) && MountInfoParser.ParseLine(line) is { } row)
            {
                shown[row.MountId] = row;
            }
        }

        foreach (int i in needed)
        {
            // Old mount ids are reused as soon as a mount is gone: the row must be the same slave at the same place.
            MountEntry entry = entries[i];
            bool same = shown.TryGetValue(entry.OldMountId, out MountInfo? row) && (ulong)row.Master == entry.Master && row.MountPoint == entry.MountPoint;
            entries[i] = entry with { PropagateFrom = same ? (ulong)row!.PropagateFrom : 0 };
        }

        trace?.Invoke($"propagate_from of {needed.Count} slave mount(s) from /proc/{pid}/mountinfo, which computes it against the process's root");
        return entries;
    }

    /// <summary>statmount reports the dominating group even when it is the master itself; mountinfo, and this model, only when it differs.</summary>
    private static ulong PropagateFromOf(StatMountMask mask, ulong propagateFrom, ulong master) =>
        (mask & StatMountMask.PropagateFrom) != 0 && propagateFrom != master ? propagateFrom : 0;

    // Not one generic Read<T>: crossgen2 leaves its instantiations to the JIT, and ToEntry calls them 20 times a mount.
    private static unsafe ulong U64(byte* b, int offset) => Unsafe.ReadUnaligned<ulong>(b + offset);

    private static unsafe uint U32(byte* b, int offset) => Unsafe.ReadUnaligned<uint>(b + offset);

    private static unsafe string? String(byte* b, int offsetField, StatMountMask mask, StatMountMask flag) =>
        (mask & flag) == 0 ? null : Marshal.PtrToStringUTF8((nint)(b + MountSyscalls.StatMountFixedSize + U32(b, offsetField)));

    private static unsafe IReadOnlyList<string> Strings(byte* b, int countField, int offsetField, StatMountMask mask, StatMountMask flag)
    {
        if ((mask & flag) == 0)
        {
            return Array.Empty<string>();
        }

        uint count = U32(b, countField);
        string[] result = new string[count];
        byte* p = b + MountSyscalls.StatMountFixedSize + U32(b, offsetField);
        for (int i = 0; i < count; i++)
        {
            result[i] = Marshal.PtrToStringUTF8((nint)p) ?? string.Empty;
            p += System.Text.Encoding.UTF8.GetByteCount(result[i]) + 1;
        }

        return result;
    }
}
