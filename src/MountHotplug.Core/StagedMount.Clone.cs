using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>How <see cref="StagedMount.Clone"/> makes its detached mount.</summary>
public sealed record CloneOptions
{
    /// <summary>Clone the mounts below the path too (OPEN_TREE_CLONE | AT_RECURSIVE), with the attributes on each.</summary>
    public bool Recurse { get; init; }

    /// <summary>The flags to set (read-only, nosuid, nodev, noexec, nosymfollow, an atime mode).</summary>
    public MountAttributes Attributes { get; init; }

    /// <summary>The propagation of the clone: Private unless asked (see the remarks of <see cref="StagedMount.Clone"/>).</summary>
    public MountPropagation Propagation { get; init; } = MountPropagation.Private;

    /// <summary>Idmap the mount through this user namespace (<see cref="IdMapping.Open"/>).</summary>
    public OpenedUserNamespace? IdMap { get; init; }

    /// <summary>Also keep the mount attached in the stage under this name (<see cref="StageStore"/>).</summary>
    public string? StageName { get; init; }

    /// <summary>With <see cref="StageName"/>: the container the kept mount is for.</summary>
    public string? StageContainer { get; init; }

    /// <summary>A target carried with the staged mount (a row's Target column), for the attach that follows.</summary>
    public string? RequestedTarget { get; init; }
}

public sealed partial class StagedMount
{
    /// <summary>
    /// The clone recipe, in one call: a clone of <paramref name="source"/> (a path in the caller's mount namespace) with the
    /// flags, the propagation and the idmap set (open_tree_attr, or open_tree and mount_setattr where the kernel has no
    /// open_tree_attr or refuses it), then statx; with a stage name, the clone is also kept in the stage. A clone of a shared host mount stays in the host's peer group unless told otherwise,
    /// and later host mounts would then appear in the container, so the propagation is always set (kernel-notes N10).
    /// On any failure nothing is left: the clone is closed, which dissolves it.
    /// </summary>
    /// <exception cref="SyscallException">open_tree (ENOENT/ENOTDIR: no such source), mount_setattr or statx failed.</exception>
    /// <exception cref="IdMapException">The idmap was refused.</exception>
    /// <exception cref="StageException">The mount could not be kept in the stage.</exception>
    public static StagedMount Clone(string source, CloneOptions options, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        OpenTreeFlags flags = OpenTreeFlags.Clone | (options.Recurse ? OpenTreeFlags.Recursive : OpenTreeFlags.None);
        SafeMountHandle handle = CloneWithAttributes(source, flags, options, trace);
        try
        {
            StatxInfo info = MountSyscalls.Statx(handle, source);
            if (options.StageName is { } name)
            {
                var record = new StageRecord(source, info.IsDirectory, options.Recurse, (ulong)options.Attributes, options.Propagation.ToString(),
                    options.IdMap?.Inode, DateTime.UtcNow, Environment.ProcessId);
                handle = KeepInStage(handle, new StageKey(options.StageContainer, name), record, source, trace, out info);
            }

            return new StagedMount(source, handle, info, options.Recurse, options.Attributes, options.Propagation, options.IdMap?.Inode,
                options.StageName, options.StageName is null ? null : options.StageContainer)
            {
                RequestedTarget = options.RequestedTarget,
            };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    // Attaches the detached mount in the stage and gives back the clone of it that the caller hands on; the detached
    // original is closed (it lives on in the stage). An out parameter, not a tuple: a framework generic over a value type
    // of this assembly is code a ReadyToRun image cannot hold.
    private static SafeMountHandle KeepInStage(SafeMountHandle detached, StageKey key, StageRecord record, string name, Action<string>? trace,
        out StatxInfo info)
    {
        SafeMountHandle kept = StageStore.Stage(key, detached, record, trace);
        detached.Dispose();
        try
        {
            info = MountSyscalls.Statx(kept, name);
            return kept;
        }
        catch
        {
            kept.Dispose();
            throw;
        }
    }

    // One open_tree_attr where the kernel has it (6.15): the clone never exists without its attributes, and it is one
    // system call instead of two or three. Where it refuses, the same mount is made in steps, so that an error names the
    // step that failed (a missing source is open_tree's ENOENT, an idmap refusal is probed per filesystem) as before.
    private static SafeMountHandle CloneWithAttributes(string source, OpenTreeFlags flags, CloneOptions options, Action<string>? trace)
    {
        string idmap = options.IdMap is { } u ? $",idmap, userns_fd={u.Handle.DescriptorNumber}" : string.Empty;

        // An atime mode is an enum in a mask: setting one without clearing the mask is EINVAL (kernel-notes N11).
        MountAttributes clear = (options.Attributes & MountAttributes.AtimeMask) != 0 ? MountAttributes.AtimeMask : MountAttributes.None;
        if (KernelFeatures.IsSupported(KernelFeature.OpenTreeAttr))
        {
            SafeMountHandle? clone = MountSyscalls.TryOpenTreeAttr(source, flags, options.Attributes, clear, options.Propagation, options.IdMap?.Handle, out int errno);
            trace?.Invoke($"open_tree_attr(AT_FDCWD, \"{source}\", {flags}, {{attr_set={FormatAttributes(options.Attributes)}{idmap}, propagation={options.Propagation}}}) = "
                + (clone is null ? $"{ErrnoText.Name(errno)}; the same again in steps" : $"fd {clone.DescriptorNumber}"));
            if (clone is not null)
            {
                return clone;
            }
        }

        SafeMountHandle handle = MountSyscalls.OpenTree(null, source, flags);
        trace?.Invoke($"open_tree(AT_FDCWD, \"{source}\", {flags}) = fd {handle.DescriptorNumber}");
        string recursive = options.Recurse ? "|AT_RECURSIVE" : string.Empty;
        try
        {
            MountSyscalls.MountSetAttr(handle, options.Attributes, clear, options.Propagation, options.Recurse, source);
            trace?.Invoke($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{recursive}, {{attr_set={FormatAttributes(options.Attributes)}, propagation={options.Propagation}}}) = 0");
            if (options.IdMap is { } userns)
            {
                IdMapping.Apply(handle, userns, source, options.Recurse);
                trace?.Invoke($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{recursive}, {{attr_set=MOUNT_ATTR_IDMAP, userns_fd={userns.Handle.DescriptorNumber}}}) = 0");
            }

            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A new filesystem as a detached mount (fsopen, fsconfig, fsmount; see <see cref="FileSystemBuilder"/>), with its
    /// propagation set: fsmount makes a private mount already, but Shared, Slave and Unbindable must work too and the
    /// state never depends on a kernel default.
    /// </summary>
    /// <remarks>With <paramref name="idMap"/>, its files show with ids mapped through that user namespace, as a clone's do
    /// (a filesystem that cannot be idmapped says EINVAL). With <paramref name="stageName"/>, the new mount is also kept in
    /// the stage, as <see cref="Clone"/> keeps a clone: every later Get-StagedMount of it is a bind of the same filesystem
    /// instance (the same tmpfs, say).</remarks>
    /// <exception cref="FileSystemException">fsopen, fsconfig or fsmount refused; the message has the kernel's own words.</exception>
    /// <exception cref="SyscallException">mount_setattr or statx failed (nothing was mounted).</exception>
    /// <exception cref="IdMapException">The idmap was refused.</exception>
    /// <exception cref="StageException">The mount could not be kept in the stage.</exception>
    public static StagedMount CreateFileSystem(string fileSystem, string? source, IReadOnlyList<FileSystemOption> options, MountAttributes attributes,
        MountPropagation propagation, Action<string>? trace, Action<FsContextMessage> onMessage, string? stageName = null, string? stageContainer = null,
        OpenedUserNamespace? idMap = null)
    {
        string target = source ?? fileSystem;
        SafeMountHandle handle = FileSystemBuilder.Create(fileSystem, source, options, attributes, trace, onMessage);
        try
        {
            MountSyscalls.MountSetAttr(handle, MountAttributes.None, MountAttributes.None, propagation, recursive: false, target);
            trace?.Invoke($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH, {{propagation={propagation}}}) = 0");
            if (idMap is not null)
            {
                string call = $"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH, {{attr_set=MOUNT_ATTR_IDMAP, userns_fd={idMap.Handle.DescriptorNumber}}})";
                try
                {
                    IdMapping.Apply(handle, idMap, target, recursive: false, newFileSystem: fileSystem);
                }
                catch (IdMapException ex) when (ex.Syscall is { } refused)
                {
                    trace?.Invoke($"{call} = {refused.ErrnoName}");
                    throw;
                }

                trace?.Invoke($"{call} = 0");
            }

            StatxInfo info = MountSyscalls.Statx(handle, target);
            if (stageName is not null)
            {
                var record = new StageRecord(target, info.IsDirectory, Recurse: false, (ulong)attributes, propagation.ToString(), idMap?.Inode, DateTime.UtcNow,
                    Environment.ProcessId, fileSystem, options.Select(o => o.ToString()).ToList());
                handle = KeepInStage(handle, new StageKey(stageContainer, stageName), record, target, trace, out info);
            }

            return new StagedMount(target, handle, info, recurse: false, attributes, propagation, idMap?.Inode, stageName,
                stageName is null ? null : stageContainer)
            {
                FileSystem = fileSystem,
                Options = options.Select(o => o.ToString()).ToList(),
            };
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A new detached clone of the mount kept in the stage under <paramref name="key"/> (see <see cref="StageStore"/>), described
    /// from its record; in any process, as often as needed.
    /// </summary>
    /// <exception cref="StageException">Nothing is kept under that name, or it cannot be opened.</exception>
    public static StagedMount OpenStaged(StageKey key, Action<string>? trace = null)
    {
        (SafeMountHandle clone, StageRecord? record) = StageStore.Open(key);
        try
        {
            StatxInfo info = MountSyscalls.Statx(clone, StageStore.EntryPath(key));
            trace?.Invoke($"open_tree(\"{StageStore.EntryPath(key)}\", OPEN_TREE_CLONE{(record?.Recurse ?? true ? "|AT_RECURSIVE" : string.Empty)}) = fd {clone.DescriptorNumber}");
            return new StagedMount(record?.Source ?? StageStore.EntryPath(key), clone, info, record?.Recurse ?? true,
                record?.AttributeFlags ?? MountAttributes.None, record?.PropagationValue ?? MountPropagation.Private, record?.IdMapUserNamespace,
                key.Name, key.Container)
            {
                FileSystem = record?.FileSystem,
                Options = record?.FileSystemOptions ?? Array.Empty<string>(),
            };
        }
        catch
        {
            clone.Dispose();
            throw;
        }
    }
}
