namespace MountHotplug;

/// <summary>Which step of a topology restore failed; each has its own error id in the cmdlets.</summary>
public enum RestoreFailure
{
    InvalidTopology,
    InvalidDestination,
    DestinationShared,
    SourceNotFound,
    CreateFailed,
    AttachFailed,
    SharingFailed,
}

/// <summary>A topology restore failed; what it had attached was detached again. The syscall failure, if any, is the inner exception.</summary>
public sealed class RestoreException : Exception
{
    public RestoreException(RestoreFailure failure, string path, string message, SyscallException? syscall = null)
        : base(syscall is null ? message : $"{message} {syscall.Message}", syscall)
    {
        Failure = failure;
        Path = path;
    }

    public RestoreFailure Failure { get; }

    /// <summary>The path inside the namespace (or of the topology) the failure concerns.</summary>
    public string Path { get; }
}

/// <summary>
/// Rebuilds a <see cref="MountTopology"/> under a directory of a mount namespace in the order of CRIU's mount-v2: every mount is
/// created private (tmpfs through fsopen/fsmount, everything else as a clone of an existing mount of the same filesystem), the
/// tree is assembled with move_mount, and then the sharing groups are set top-down with MOVE_MOUNT_SET_GROUP, masters before
/// their slaves: for each group the member with the widest root is the source; it joins its master's group, is made a slave,
/// then shared, and the other members join it. Topology, not contents: no file is copied.
/// </summary>
public static class TopologyRestore
{
    /// <summary>Filesystems made afresh; any other is restored as a bind of an existing mount of the same device.</summary>
    public static readonly IReadOnlyCollection<string> CreatableTypes = new[] { "tmpfs" };

    private const MountAttributes Settable = MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev | MountAttributes.NoExec
        | MountAttributes.AtimeMask | MountAttributes.NoDirAtime | MountAttributes.NoSymFollow;

    private const ResolveFlags InsideMount = ResolveFlags.Beneath | ResolveFlags.NoXdev | ResolveFlags.NoSymlinks | ResolveFlags.NoMagicLinks;

    /// <summary>
    /// Restores <paramref name="topology"/> under <paramref name="destination"/>, resolved inside <paramref name="root"/> (the
    /// namespace process's root; "/" for the caller's namespace). <paramref name="worker"/> runs the calls that must be made
    /// inside the namespace (inline for the caller's own). <paramref name="table"/> is the namespace's current mount table, where
    /// sources of bind mounts and the destination's mount are found. On failure everything attached is detached again and the
    /// directories made at the destination are removed.
    /// </summary>
    /// <returns>The unique mount ids of the restored mounts, in topology order.</returns>
    internal static IReadOnlyList<ulong> Restore(MountTopology topology, NamespaceWorker worker, SafeHandle root, string destination,
        IReadOnlyList<MountEntry> table, Action<string>? trace = null, Action<string>? warning = null)
    {
        // A topology need not come from Parse: one with a path such as "../etc" would be attached outside the destination.
        try
        {
            topology.Validate();
        }
        catch (FormatException ex)
        {
            throw new RestoreException(RestoreFailure.InvalidTopology, topology.Root ?? string.Empty, ex.Message);
        }

        var run = new Run(topology, worker, root, destination, table, trace, warning);
        try
        {
            return run.Execute();
        }
        catch
        {
            run.Rollback();
            throw;
        }
        finally
        {
            run.Dispose();
        }
    }

    private sealed class Run : IDisposable
    {
        private readonly MountTopology _topology;
        private readonly NamespaceWorker _worker;
        private readonly SafeHandle _root;
        private readonly string _destination;
        private readonly IReadOnlyList<MountEntry> _table;
        private readonly Action<string>? _trace;
        private readonly Action<string>? _warning;
        private readonly Dictionary<int, TopologyMount> _byId;
        private readonly Dictionary<int, SafeMountHandle> _mounts = new();
        private readonly Dictionary<int, SafeMountHandle> _freshFilesystems = new();
        private readonly List<(SafeMountHandle Mount, ContainerTarget Target)> _attachedAtTop = new();
        private readonly List<SafeMountHandle> _helpers = new();

        internal Run(MountTopology topology, NamespaceWorker worker, SafeHandle root, string destination, IReadOnlyList<MountEntry> table,
            Action<string>? trace, Action<string>? warning)
        {
            _topology = topology;
            _worker = worker;
            _root = root;
            _destination = destination;
            _table = table;
            _trace = trace;
            _warning = warning;
            _byId = topology.Mounts.ToDictionary(m => m.Id);
        }

        internal IReadOnlyList<ulong> Execute()
        {
            IReadOnlyList<string> destination = CheckDestination();

            // 1. Every mount, detached and private.
            foreach (TopologyMount m in _topology.Mounts)
            {
                _mounts[m.Id] = CreateDetached(m);
            }

            // 2. Mount points inside the parents (before any of them turns read-only), then each mount's own attributes.
            foreach (TopologyMount m in _topology.Mounts)
            {
                if (m.Parent is { } parent && RelativeToParent(m) is { Length: > 0 } relative)
                {
                    MakeMountPoint(_mounts[parent], relative, MountSyscalls.Statx(_mounts[m.Id], m.Path).IsDirectory, m.Path);
                }
            }

            foreach (TopologyMount m in _topology.Mounts)
            {
                MountAttributes set = MountOptions.Parse(m.Options) & Settable;
                if (m.Options.Split(',').Contains("idmapped"))
                {
                    _warning?.Invoke($"'{Display(m)}' was an idmapped mount; it is restored without the id mapping.");
                }

                Check(_worker.TryMountSetAttr(_mounts[m.Id], set, (Settable & ~set) | MountAttributes.AtimeMask, MountPropagation.Private, recursive: false),
                    RestoreFailure.CreateFailed, m, "mount_setattr", $"Could not set the attributes of '{Display(m)}' ({m.Options}).");
            }

            // 3. The tree: parents before children; among the children of one mount the deeper mount points first, so that a
            // mount covering a directory never hides the mount point of one below it.
            foreach (TopologyMount m in AttachOrder())
            {
                Attach(m, destination);
            }

            // 4. Sharing, masters before their slaves.
            RestoreSharing();

            // 5. Unbindable last: an unbindable mount cannot be a source of anything.
            foreach (TopologyMount m in _topology.Mounts.Where(m => m.Unbindable))
            {
                Check(_worker.TryMountSetAttr(_mounts[m.Id], MountAttributes.None, MountAttributes.None, MountPropagation.Unbindable, recursive: false),
                    RestoreFailure.SharingFailed, m, "mount_setattr", $"Could not make '{Display(m)}' unbindable.");
            }

            return _topology.Mounts.Select(m => MountSyscalls.Statx(_mounts[m.Id], m.Path).MountId).ToList();
        }

        internal void Rollback()
        {
            for (int i = _attachedAtTop.Count - 1; i >= 0; i--)
            {
                (SafeMountHandle mount, ContainerTarget target) = _attachedAtTop[i];
                DetachOutcome undone = target.TryDetachOwn(_worker, mount);
                _trace?.Invoke($"undo: umount2('{target.Path}', MNT_DETACH) = {undone}");
                target.RemoveCreated();
            }
        }

        public void Dispose()
        {
            foreach (var (_, target) in _attachedAtTop)
            {
                target.Dispose();
            }

            foreach (SafeMountHandle handle in _mounts.Values.Concat(_freshFilesystems.Values).Concat(_helpers))
            {
                handle.Dispose();
            }
        }

        private IReadOnlyList<string> CheckDestination()
        {
            IReadOnlyList<string> components = TargetPath.TrySplit(_destination, out string? reason)
                ?? throw new RestoreException(RestoreFailure.InvalidDestination, _destination ?? string.Empty, $"Invalid destination '{_destination}': {reason}.");
            string path = TargetPath.Join(components);
            using SafePathHandle? handle = InRootPath.TryOpen(_root, path, OpenFlags.Path | OpenFlags.Directory, out int errno);
            if (handle is null)
            {
                throw new RestoreException(RestoreFailure.InvalidDestination, path, $"The destination '{path}' is not a directory that can be resolved in the namespace.",
                    SyscallException.Create("openat2", errno, path));
            }

            // Mounts attached below a shared mount propagate to its peers and turn shared themselves: the result would not be
            // the topology, and copies would appear elsewhere.
            if (MountTable.FindMountOf(_table, handle) is { } container && (container.Propagation & PropagationState.Shared) != 0)
            {
                throw new RestoreException(RestoreFailure.DestinationShared, path,
                    $"The destination '{path}' lies on the mount at '{container.MountPoint}', which is shared (peer group {container.PeerGroup}): every restored mount would also be copied to its peers.");
            }

            return components;
        }

        private SafeMountHandle CreateDetached(TopologyMount m)
        {
            if (CreatableTypes.Contains(m.FileSystemType))
            {
                SafeMountHandle filesystem = FreshFilesystem(m);
                string relative = m.Root.Trim('/');
                if (relative.Length == 0)
                {
                    return Trace(MountSyscalls.OpenTree(filesystem, string.Empty, OpenTreeFlags.Clone | OpenTreeFlags.EmptyPath), $"open_tree(new {m.FileSystemType} '{m.Source}', CLONE) for '{Display(m)}'");
                }

                MakeDirectories(filesystem, relative, m);
                return Trace(MountSyscalls.OpenTree(filesystem, relative, OpenTreeFlags.Clone), $"open_tree(new {m.FileSystemType} '{m.Source}', \"{relative}\", CLONE) for '{Display(m)}'");
            }

            return CloneExisting(m, m.Root);
        }

        /// <summary>One new filesystem per superblock label, with the source name and superblock options of the original.</summary>
        private SafeMountHandle FreshFilesystem(TopologyMount m)
        {
            if (_freshFilesystems.TryGetValue(m.Superblock, out SafeMountHandle? existing))
            {
                return existing;
            }

            try
            {
                var options = new List<FileSystemOption>();
                foreach (string option in m.SuperOptions.Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (option != "rw")
                    {
                        int equals = option.IndexOf('=');
                        options.Add(new FileSystemOption(equals < 0 ? option : option[..equals], equals < 0 ? null : option[(equals + 1)..]));
                    }
                }

                SafeMountHandle filesystem = FileSystemBuilder.Create(m.FileSystemType, m.Source, options, MountAttributes.None);
                _trace?.Invoke($"fsopen(\"{m.FileSystemType}\") + fsconfig(source={m.Source}, {m.SuperOptions}) + fsmount = fd {filesystem.DescriptorNumber}");
                _freshFilesystems[m.Superblock] = filesystem;
                return filesystem;
            }
            catch (FileSystemException ex)
            {
                throw new RestoreException(RestoreFailure.CreateFailed, Display(m), $"Could not create the {m.FileSystemType} '{m.Source}' ({m.SuperOptions}) for '{Display(m)}': {ex.Message}", ex.Syscall);
            }
        }

        /// <summary>
        /// A detached clone showing <paramref name="root"/> of the filesystem of <paramref name="m"/>, made from a mount of the same
        /// device in the namespace whose root contains it; the kernel clones an attached mount only from inside its namespace.
        /// </summary>
        private SafeMountHandle CloneExisting(TopologyMount m, string root)
        {
            MountEntry? source = _table.Where(e => e.Device == m.Device && SetGroupDiagnosis.IsSubdirectory(root, e.Root))
                .OrderBy(e => e.MountPoint.Length).FirstOrDefault();
            if (source is null)
            {
                throw new RestoreException(RestoreFailure.SourceNotFound, Display(m),
                    $"'{Display(m)}' is a {m.FileSystemType} mount of device {m.Device} showing '{root}', and no mount in the namespace shows that directory; only tmpfs is created afresh, every other filesystem must already be mounted.");
            }

            string below = root == source.Root ? string.Empty : root[(source.Root == "/" ? 1 : source.Root.Length + 1)..];
            string path = source.MountPoint == "/" ? "/" + below : below.Length == 0 ? source.MountPoint : $"{source.MountPoint}/{below}";
            using SafePathHandle? at = InRootPath.TryOpen(_root, path, OpenFlags.Path, out int errno);
            if (at is null)
            {
                throw new RestoreException(RestoreFailure.SourceNotFound, Display(m), $"The source '{path}' for '{Display(m)}' cannot be opened in the namespace.",
                    SyscallException.Create("openat2", errno, path));
            }

            StatxInfo info = MountSyscalls.Statx(at, path);
            if ($"{info.DeviceMajor}:{info.DeviceMinor}" != m.Device)
            {
                throw new RestoreException(RestoreFailure.SourceNotFound, Display(m),
                    $"'{path}' in the namespace is on device {info.DeviceMajor}:{info.DeviceMinor}, not {m.Device} (something is mounted over it), so it cannot be the source of '{Display(m)}'.");
            }

            SafeMountHandle? clone = _worker.TryCloneMount(at, recursive: false, out errno);
            if (clone is null)
            {
                throw new RestoreException(RestoreFailure.SourceNotFound, Display(m), $"Could not clone '{path}' for '{Display(m)}'.",
                    SyscallException.Create("open_tree", errno, path));
            }

            return Trace(clone, $"open_tree(\"{path}\", CLONE) in the namespace for '{Display(m)}'");
        }

        private void MakeMountPoint(SafeMountHandle parent, string relative, bool directory, string display)
        {
            string[] components = relative.Split('/');
            SafeHandle dir = parent;
            var opened = new List<SafePathHandle>();
            try
            {
                for (int i = 0; i < components.Length; i++)
                {
                    bool last = i == components.Length - 1;
                    int errno = !last || directory
                        ? MountSyscalls.TryMkdirAt(dir, components[i], 0x1ED /* 0755 */)
                        : CreateEmptyFile(dir, components[i]);
                    if (errno != 0 && errno != (int)Errno.EEXIST)
                    {
                        throw new RestoreException(RestoreFailure.CreateFailed, display, $"Could not create the mount point '{display}'.",
                            SyscallException.Create(!last || directory ? "mkdirat" : "openat2", errno, string.Join('/', components.Take(i + 1))));
                    }

                    if (!last)
                    {
                        SafePathHandle next = MountSyscalls.OpenAt2(dir, components[i], OpenFlags.Path | OpenFlags.Directory, InsideMount, display);
                        opened.Add(next);
                        dir = next;
                    }
                }
            }
            finally
            {
                opened.ForEach(h => h.Dispose());
            }
        }

        private void MakeDirectories(SafeMountHandle filesystem, string relative, TopologyMount m) => MakeMountPoint(filesystem, relative, directory: true, Display(m));

        private static int CreateEmptyFile(SafeHandle directory, string name)
        {
            using SafePathHandle? file = MountSyscalls.TryOpenAt2(directory, name,
                OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.WriteOnly | OpenFlags.NoFollow, InsideMount, out int errno, mode: 0x1A4 /* 0644 */);
            return file is null ? errno : 0;
        }

        private IEnumerable<TopologyMount> AttachOrder()
        {
            var children = _topology.Mounts.Where(m => m.Parent is not null).ToLookup(m => m.Parent!.Value);
            var queue = new Queue<TopologyMount>(Sorted(_topology.Mounts.Where(m => m.Parent is null)));
            while (queue.Count > 0)
            {
                TopologyMount m = queue.Dequeue();
                yield return m;
                foreach (TopologyMount child in Sorted(children[m.Id]))
                {
                    queue.Enqueue(child);
                }
            }

            IEnumerable<TopologyMount> Sorted(IEnumerable<TopologyMount> mounts) =>
                mounts.OrderByDescending(c => Depth(RelativeToParent(c))).ThenBy(c => c.Id);
        }

        private void Attach(TopologyMount m, IReadOnlyList<string> destination)
        {
            SafeMountHandle mount = _mounts[m.Id];
            if (m.Parent is not { } parent)
            {
                var components = destination.Concat(m.Path.Length == 0 ? Array.Empty<string>() : m.Path.Split('/')).ToList();
                ContainerTarget target;
                try
                {
                    target = ContainerTarget.Resolve(_root, components, create: true, MountSyscalls.Statx(mount, m.Path).IsDirectory);
                }
                catch (HotplugException ex)
                {
                    throw new RestoreException(RestoreFailure.AttachFailed, TargetPath.Join(components), ex.Message, ex.Syscall);
                }

                int errno = _worker.TryMoveMount(mount, target.Handle, MoveMountFlags.None);
                _trace?.Invoke($"move_mount('{Display(m)}' -> '{target.Path}') = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
                if (errno != 0)
                {
                    target.RemoveCreated();
                    target.Dispose();
                    throw new RestoreException(RestoreFailure.AttachFailed, target.Path, $"Could not attach '{Display(m)}' at '{target.Path}'.",
                        SyscallException.Create("move_mount", errno, Display(m), target.Path));
                }

                _attachedAtTop.Add((mount, target));
                return;
            }

            string relative = RelativeToParent(m);
            int openErrno = 0;
            SafePathHandle? at = relative.Length == 0 ? null : MountSyscalls.TryOpenAt2(_mounts[parent], relative, OpenFlags.Path, InsideMount, out openErrno);
            if (relative.Length > 0 && at is null)
            {
                throw new RestoreException(RestoreFailure.AttachFailed, Display(m), $"The mount point '{Display(m)}' cannot be found in its parent mount.",
                    SyscallException.Create("openat2", openErrno, relative));
            }

            using (at)
            {
                int errno = _worker.TryMoveMount(mount, (SafeHandle?)at ?? _mounts[parent], MoveMountFlags.None);
                _trace?.Invoke($"move_mount('{Display(m)}' -> '{Display(_byId[parent])}'{(relative.Length == 0 ? string.Empty : " + " + relative)}) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
                Check(errno, RestoreFailure.AttachFailed, m, "move_mount", $"Could not attach '{Display(m)}'.");
            }
        }

        private void RestoreSharing()
        {
            var groups = _topology.PeerGroups().ToDictionary(g => g.Group);
            var sources = new Dictionary<int, (SafeMountHandle Handle, string Root)>();
            var done = new HashSet<int>();

            void Process(int group, HashSet<int> visiting)
            {
                if (done.Contains(group))
                {
                    return;
                }

                if (!visiting.Add(group))
                {
                    throw new RestoreException(RestoreFailure.SharingFailed, $"peer group {group}", $"Peer group {group} is, through its masters, its own master.");
                }

                var (_, master, members) = groups[group];
                if (master is { } m && groups.ContainsKey(m))
                {
                    Process(m, visiting);
                }

                // The member whose root contains all the others' is the source; when none does, a detached helper showing their
                // common root stands in (a detached mount can be a source of MOVE_MOUNT_SET_GROUP).
                TopologyMount? widest = members.FirstOrDefault(c => members.All(o => SetGroupDiagnosis.IsSubdirectory(o.Root, c.Root)));
                (SafeMountHandle source, string root) = widest is not null
                    ? (_mounts[widest.Id], widest.Root)
                    : Helper(members);
                string name = widest is not null ? $"'{Display(widest)}'" : $"a helper mount of '{root}'";

                JoinMaster(source, root, master, name, members[0]);
                Check(_worker.TryMountSetAttr(source, MountAttributes.None, MountAttributes.None, MountPropagation.Shared, recursive: false),
                    RestoreFailure.SharingFailed, members[0], "mount_setattr", $"Could not make {name} shared.");
                foreach (TopologyMount other in members.Where(o => !ReferenceEquals(o, widest)))
                {
                    SetGroup(source, _mounts[other.Id], $"add '{Display(other)}' to the peer group of {name}", other);
                }

                sources[group] = (source, root);
                done.Add(group);
                _trace?.Invoke($"peer group {group}: {members.Count} member(s), source {name}{(master is { } mm ? $", slave of group {mm}" : string.Empty)}");
            }

            void JoinMaster(SafeMountHandle mount, string root, int? master, string name, TopologyMount about)
            {
                if (master is not { } m)
                {
                    return;
                }

                if (!sources.TryGetValue(m, out var masterSource))
                {
                    _warning?.Invoke($"{name} was a slave of peer group {m}, which has no member in the topology; it is restored without that master.");
                    return;
                }

                if (!SetGroupDiagnosis.IsSubdirectory(root, masterSource.Root))
                {
                    throw new RestoreException(RestoreFailure.SharingFailed, Display(about),
                        $"{name} (root '{root}') cannot become a slave of peer group {m}: no member of that group shows a directory containing '{root}'.");
                }

                SetGroup(masterSource.Handle, mount, $"join {name} to its master's peer group {m}", about);
                Check(_worker.TryMountSetAttr(mount, MountAttributes.None, MountAttributes.None, MountPropagation.Slave, recursive: false),
                    RestoreFailure.SharingFailed, about, "mount_setattr", $"Could not make {name} a slave.");
            }

            foreach (int group in groups.Keys.OrderBy(g => g))
            {
                Process(group, new HashSet<int>());
            }

            // Slaves that are not shared themselves: each joins its master's group and turns slave, alone.
            foreach (TopologyMount m in _topology.Mounts.Where(m => m.PeerGroup is null && m.Master is not null))
            {
                JoinMaster(_mounts[m.Id], m.Root, m.Master, $"'{Display(m)}'", m);
            }
        }

        private (SafeMountHandle, string) Helper(IReadOnlyList<TopologyMount> members)
        {
            string common = members.Select(m => m.Root).Aggregate(CommonAncestor);
            TopologyMount first = members[0];
            SafeMountHandle helper;
            if (_freshFilesystems.TryGetValue(first.Superblock, out SafeMountHandle? filesystem))
            {
                string relative = common.Trim('/');
                helper = relative.Length == 0
                    ? MountSyscalls.OpenTree(filesystem, string.Empty, OpenTreeFlags.Clone | OpenTreeFlags.EmptyPath)
                    : MountSyscalls.OpenTree(filesystem, relative, OpenTreeFlags.Clone);
            }
            else
            {
                helper = CloneExisting(first, common);
            }

            _helpers.Add(helper);
            MountSyscalls.MountSetAttr(helper, MountAttributes.None, MountAttributes.None, MountPropagation.Private, recursive: false);
            return (helper, common);
        }

        private void SetGroup(SafeHandle from, SafeHandle to, string what, TopologyMount about)
        {
            int errno = _worker.TryMoveMount(from, to, MoveMountFlags.SetGroup);
            _trace?.Invoke($"move_mount(MOVE_MOUNT_SET_GROUP): {what} = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
            Check(errno, RestoreFailure.SharingFailed, about, "move_mount", $"Could not {what}.");
        }

        private void Check(int errno, RestoreFailure failure, TopologyMount m, string syscall, string message)
        {
            if (errno != 0)
            {
                throw new RestoreException(failure, Display(m), message, SyscallException.Create(syscall, errno, Display(m)));
            }
        }

        private SafeMountHandle Trace(SafeMountHandle handle, string what)
        {
            _trace?.Invoke($"{what} = fd {handle.DescriptorNumber}");
            return handle;
        }

        private string RelativeToParent(TopologyMount m)
        {
            string parentPath = m.Parent is { } p ? _byId[p].Path : string.Empty;
            return m.Path == parentPath ? string.Empty : parentPath.Length == 0 ? m.Path : m.Path[(parentPath.Length + 1)..];
        }

        private string Display(TopologyMount m) =>
            m.Path.Length == 0 ? TargetPath.Join(_destination.Split('/', StringSplitOptions.RemoveEmptyEntries)) : $"{_destination.TrimEnd('/')}/{m.Path}";

        private static int Depth(string relative) => relative.Length == 0 ? 0 : relative.Count(c => c == '/') + 1;

        private static string CommonAncestor(string a, string b)
        {
            string[] x = a.Split('/', StringSplitOptions.RemoveEmptyEntries), y = b.Split('/', StringSplitOptions.RemoveEmptyEntries);
            int n = 0;
            while (n < x.Length && n < y.Length && x[n] == y[n])
            {
                n++;
            }

            return "/" + string.Join('/', x.Take(n));
        }
    }
}
