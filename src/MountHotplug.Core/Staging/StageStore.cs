using System.Text.RegularExpressions;

namespace MountHotplug.Staging;

/// <summary>Why a staging operation failed.</summary>
public enum StageFailure
{
    InvalidName,
    Exists,
    NotFound,
    Failed,
}

public sealed class StageException(StageFailure failure, string message, SyscallException? inner = null) : Exception(message, inner)
{
    public StageFailure Failure { get; } = failure;

    public SyscallException? Syscall => InnerException as SyscallException;
}

/// <summary>
/// Which staged mount: its name, and the container it is kept for (null: kept for no container in particular). Names are
/// per container, so "data" of container "web" and "data" of container "web-db" are two mounts that no pattern over names
/// alone can confuse.
/// </summary>
public readonly record struct StageKey(string? Container, string Name)
{
    /// <summary>"web/data", or "data" for a mount kept for no container.</summary>
    public override string ToString() => Container is null ? Name : $"{Container}/{Name}";
}

/// <summary>
/// Keeps staged mounts attached under a private tmpfs (default /run/mounthotplug/stage, one entry per name), so that
/// another process in the same mount namespace — a container start-up hook, a later runbook — can clone them with
/// open_tree. The tmpfs is made private and unbindable, so nothing mounted there propagates anywhere, and a recursive
/// bind of /run does not copy it. It lives in the mount namespace of the process that made it; it is unmounted again
/// when its last entry is removed. Every change is made under an flock, so concurrent processes do not race.
/// A mount kept for a container lives in that container's own directory (.containers/NAME/), beside the others' and apart
/// from them: a start-up hook asks for its container's mounts by the container's exact name.
/// </summary>
public static partial class StageStore
{
    internal const string DefaultRoot = "/run/mounthotplug/stage";
    private const string MetaDirectoryName = ".meta";
    private const string ContainersDirectoryName = ".containers";

    /// <summary>Where the stage lives. Tests point it at a directory of their own.</summary>
    internal static string Root { get; set; } = DefaultRoot;

    private static string ContainersDirectory => Path.Combine(Root, ContainersDirectoryName);

    private static string LockPath => Path.Combine(Path.GetDirectoryName(Root)!, Path.GetFileName(Root) + ".lock");

    /// <summary>Names are single path components that tools and hooks can pass around unquoted.</summary>
    public static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    /// <summary>The directory that holds the entries of one container, or of no container (the stage itself).</summary>
    private static string ScopeDirectory(string? container) => container is null ? Root : Path.Combine(ContainersDirectory, container);

    public static string EntryPath(StageKey key) => Path.Combine(ScopeDirectory(key.Container), key.Name);

    /// <summary>
    /// Moves <paramref name="detached"/> to the stage entry <paramref name="name"/> (consuming it) and returns a fresh
    /// detached clone of the entry for the caller to use now.
    /// </summary>
    internal static SafeMountHandle Stage(StageKey key, SafeMountHandle detached, StageRecord record, Action<string>? trace)
    {
        RequireValid(key);
        using Lock held = Lock.Take();
        EnsureStageMounted(trace);
        Directory.CreateDirectory(Path.Combine(ScopeDirectory(key.Container), MetaDirectoryName));
        string entry = EntryPath(key);
        if (Path.Exists(entry) || File.Exists(MetaPath(key)))
        {
            throw new StageException(StageFailure.Exists, $"A staged mount named '{key}' already exists ({entry}).");
        }

        bool moved = false;
        try
        {
            if (record.IsDirectory)
            {
                Directory.CreateDirectory(entry);
            }
            else
            {
                File.Create(entry).Dispose();
            }

            using (SafePathHandle target = MountSyscalls.Open(entry, OpenFlags.Path | OpenFlags.NoFollow))
            {
                MountSyscalls.MoveMount(detached, target, MoveMountFlags.None, record.Source, entry);
            }

            moved = true;
            trace?.Invoke($"move_mount(fd {detached.DescriptorNumber}, \"\", AT_FDCWD, \"{entry}\") = 0 (kept for later)");
            File.WriteAllText(MetaPath(key), record.ToJson());
            SafeMountHandle clone = CloneEntry(key, record.Recurse);
            trace?.Invoke($"open_tree(\"{entry}\", OPEN_TREE_CLONE{(record.Recurse ? "|AT_RECURSIVE" : string.Empty)}) = fd {clone.DescriptorNumber}");
            return clone;
        }
        catch (Exception ex) when (ex is SyscallException or IOException or UnauthorizedAccessException)
        {
            if (moved)
            {
                MountSyscalls.TryUnmount(entry, UnmountFlags.Detach | UnmountFlags.NoFollow);
            }

            DeleteEntryFiles(key);
            RemoveStageIfEmpty(trace);
            throw new StageException(StageFailure.Failed, $"Could not keep the staged mount as '{key}': {ex.Message}", ex as SyscallException);
        }
    }

    /// <summary>The names of the mounts kept for <paramref name="container"/> (null: for no container), sorted.</summary>
    public static IReadOnlyList<string> Names(string? container)
    {
        string scope = ScopeDirectory(container);
        if (!Directory.Exists(scope))
        {
            return Array.Empty<string>();
        }

        return Directory.EnumerateFileSystemEntries(scope).Select(Path.GetFileName).OfType<string>()
            .Where(IsValidName).OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>The containers that have mounts kept for them, sorted.</summary>
    public static IReadOnlyList<string> Containers() =>
        Directory.Exists(ContainersDirectory)
            ? Directory.EnumerateDirectories(ContainersDirectory).Select(Path.GetFileName).OfType<string>().Where(IsValidName)
                .OrderBy(n => n, StringComparer.Ordinal).ToList()
            : Array.Empty<string>();

    /// <summary>A fresh detached clone of the kept mount, and its record (null when the record is missing).</summary>
    internal static (SafeMountHandle Clone, StageRecord? Record) Open(StageKey key)
    {
        RequireValid(key);
        StageRecord? record = ReadRecord(key);
        if (!Path.Exists(EntryPath(key)))
        {
            throw new StageException(StageFailure.NotFound, $"No staged mount named '{key}' in {Root}.");
        }

        if (!IsMountRoot(EntryPath(key)))
        {
            throw new StageException(StageFailure.NotFound, $"'{EntryPath(key)}' exists but nothing is mounted there (it was unmounted by hand, or this is another mount namespace).");
        }

        try
        {
            return (CloneEntry(key, record?.Recurse ?? true), record);
        }
        catch (SyscallException ex)
        {
            throw new StageException(StageFailure.Failed, $"Could not clone the staged mount '{key}': {ex.Message}", ex);
        }
    }

    public static StageRecord? ReadRecord(StageKey key)
    {
        try
        {
            return StageRecord.FromJson(File.ReadAllText(MetaPath(key)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Detaches the kept mount and removes its entry; unmounts the stage when it was the last one.</summary>
    public static void Remove(StageKey key, Action<string>? trace)
    {
        RequireValid(key);
        using Lock held = Lock.Take();
        string entry = EntryPath(key);
        if (!Path.Exists(entry) && !File.Exists(MetaPath(key)))
        {
            throw new StageException(StageFailure.NotFound, $"No staged mount named '{key}' in {Root}.");
        }

        while (Path.Exists(entry) && IsMountRoot(entry))
        {
            int errno = MountSyscalls.TryUnmount(entry, UnmountFlags.Detach | UnmountFlags.NoFollow);
            trace?.Invoke($"umount2(\"{entry}\", MNT_DETACH|UMOUNT_NOFOLLOW) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
            if (errno != 0)
            {
                throw new StageException(StageFailure.Failed, $"Could not unmount the staged mount '{key}'.", SyscallException.Create("umount2", errno, entry));
            }
        }

        DeleteEntryFiles(key);
        RemoveStageIfEmpty(trace);
    }

    private static SafeMountHandle CloneEntry(StageKey key, bool recurse) =>
        MountSyscalls.OpenTree(null, EntryPath(key),
            OpenTreeFlags.Clone | OpenTreeFlags.SymlinkNoFollow | (recurse ? OpenTreeFlags.Recursive : OpenTreeFlags.None));

    private static string MetaPath(StageKey key) => Path.Combine(ScopeDirectory(key.Container), MetaDirectoryName, key.Name + ".json");

    private static void RequireValid(StageKey key)
    {
        if (!IsValidName(key.Name))
        {
            throw new StageException(StageFailure.InvalidName,
                $"'{key.Name}' is not a valid stage name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }

        if (key.Container is not null && !IsValidName(key.Container))
        {
            throw new StageException(StageFailure.InvalidName,
                $"'{key.Container}' is not a valid container name for the stage: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }
    }

    private static bool IsMountRoot(string path)
    {
        using SafePathHandle handle = MountSyscalls.Open(path, OpenFlags.Path | OpenFlags.NoFollow);
        StatxInfo info = MountSyscalls.Statx(handle, path);
        return info.IsMountRoot;
    }

    private static void EnsureStageMounted(Action<string>? trace)
    {
        Directory.CreateDirectory(Root);
        if (IsMountRoot(Root))
        {
            return;
        }

        SafeMountHandle tmpfs;
        try
        {
            tmpfs = FileSystemBuilder.Create("tmpfs", "mhp-stage", new[] { new FileSystemOption("mode", "0700"), new FileSystemOption("size", "1m") },
                MountAttributes.None);
        }
        catch (FileSystemException ex)
        {
            throw ex.Syscall;
        }

        using var stage = tmpfs;
        MountSyscalls.MountSetAttr(tmpfs, MountAttributes.NoSuid | MountAttributes.NoDev | MountAttributes.NoExec, MountAttributes.None,
            MountPropagation.Private, recursive: false, "tmpfs");
        using (SafePathHandle root = MountSyscalls.Open(Root, OpenFlags.Path | OpenFlags.Directory | OpenFlags.NoFollow))
        {
            MountSyscalls.MoveMount(tmpfs, root, MoveMountFlags.None, "tmpfs", Root);
        }

        // Attached under a shared parent it would have become shared; now that it is in place, cut it off.
        MountSyscalls.MountSetAttr(tmpfs, MountAttributes.None, MountAttributes.None, MountPropagation.Unbindable, recursive: false, Root);
        trace?.Invoke($"fsopen(\"tmpfs\") + fsmount + move_mount(\"{Root}\") + mount_setattr(propagation=unbindable) = 0 (the stage)");
    }

    private static void DeleteEntryFiles(StageKey key)
    {
        string entry = EntryPath(key);
        try
        {
            if (Directory.Exists(entry))
            {
                Directory.Delete(entry);
            }
            else if (File.Exists(entry))
            {
                File.Delete(entry);
            }

            File.Delete(MetaPath(key));
            if (key.Container is not null && Names(key.Container).Count == 0)
            {
                Directory.Delete(Path.Combine(ScopeDirectory(key.Container), MetaDirectoryName));
                Directory.Delete(ScopeDirectory(key.Container));
            }
        }
        catch (IOException)
        {
            // Still mounted over (by someone else in this namespace): left for the next Remove-StagedMount.
        }
    }

    private static void RemoveStageIfEmpty(Action<string>? trace)
    {
        if (!IsMounted || Names(null).Count > 0 || Containers().Count > 0)
        {
            return;
        }

        // The empty directory stays. The stage of another mount namespace (a service with a namespace of its own, another
        // test run) may be mounted on the same directory, and removing a directory detaches every mount on it in every
        // namespace (seen on 6.18: rmdir from the host's namespace took another namespace's tmpfs with it).
        int errno = MountSyscalls.TryUnmount(Root, UnmountFlags.Detach | UnmountFlags.NoFollow);
        trace?.Invoke($"umount2(\"{Root}\", MNT_DETACH) = {(errno == 0 ? "0" : ErrnoText.Name(errno))} (the stage is empty)");
    }

    /// <summary>Whether the stage's tmpfs is mounted in this mount namespace.</summary>
    internal static bool IsMounted => Directory.Exists(Root) && IsMountRoot(Root);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    /// <summary>An exclusive flock on the stage's lock file (beside the stage, not in it), held until disposed.</summary>
    private sealed class Lock : IDisposable
    {
        private readonly SafePathHandle _file;

        private Lock(SafePathHandle file) => _file = file;

        internal static Lock Take()
        {
            Directory.CreateDirectory(Path.GetDirectoryName(LockPath)!);
            SafePathHandle file = MountSyscalls.Open(LockPath, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.NoFollow, 0x180 /* 0600 */);
            try
            {
                MountSyscalls.LockExclusiveBlocking(file, LockPath);
                return new Lock(file);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        public void Dispose() => _file.Dispose();
    }
}
