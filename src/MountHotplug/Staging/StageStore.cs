using System.Management.Automation;
using System.Text.RegularExpressions;
using MountHotplug.Native;

namespace MountHotplug.Staging;

/// <summary>Why a staging operation failed.</summary>
internal enum StageFailure
{
    InvalidName,
    Exists,
    NotFound,
    Failed,
}

internal sealed class StageException(StageFailure failure, string message, SyscallException? inner = null) : Exception(message, inner)
{
    internal StageFailure Failure { get; } = failure;

    internal SyscallException? Syscall => InnerException as SyscallException;
}

/// <summary>
/// Keeps staged mounts attached under a private tmpfs (default /run/mounthotplug/stage, one entry per name), so that
/// another process in the same mount namespace — a container start-up hook, a later runbook — can clone them with
/// open_tree. The tmpfs is made private and unbindable, so nothing mounted there propagates anywhere, and a recursive
/// bind of /run does not copy it. It lives in the mount namespace of the process that made it; it is unmounted again
/// when its last entry is removed. Every change is made under an flock, so concurrent processes do not race.
/// </summary>
internal static partial class StageStore
{
    internal const string DefaultRoot = "/run/mounthotplug/stage";
    private const string MetaDirectoryName = ".meta";

    /// <summary>Where the stage lives. Tests point it at a directory of their own.</summary>
    internal static string Root { get; set; } = DefaultRoot;

    private static string MetaDirectory => Path.Combine(Root, MetaDirectoryName);

    private static string LockPath => Path.Combine(Path.GetDirectoryName(Root)!, Path.GetFileName(Root) + ".lock");

    /// <summary>Names are single path components that tools and hooks can pass around unquoted.</summary>
    internal static bool IsValidName(string? name) => name is not null && NamePattern().IsMatch(name);

    internal static string EntryPath(string name) => Path.Combine(Root, name);

    /// <summary>
    /// Moves <paramref name="detached"/> to the stage entry <paramref name="name"/> (consuming it) and returns a fresh
    /// detached clone of the entry for the caller to use now.
    /// </summary>
    internal static SafeMountHandle Stage(string name, SafeMountHandle detached, StageRecord record, Action<string>? trace)
    {
        RequireValid(name);
        using Lock held = Lock.Take();
        EnsureStageMounted(trace);
        string entry = EntryPath(name);
        if (Path.Exists(entry) || File.Exists(MetaPath(name)))
        {
            throw new StageException(StageFailure.Exists, $"A staged mount named '{name}' already exists ({entry}).");
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
            File.WriteAllText(MetaPath(name), record.ToJson());
            SafeMountHandle clone = CloneEntry(name, record.Recurse);
            trace?.Invoke($"open_tree(\"{entry}\", OPEN_TREE_CLONE{(record.Recurse ? "|AT_RECURSIVE" : string.Empty)}) = fd {clone.DescriptorNumber}");
            return clone;
        }
        catch (Exception ex) when (ex is SyscallException or IOException or UnauthorizedAccessException)
        {
            if (moved)
            {
                MountSyscalls.TryUnmount(entry, UnmountFlags.Detach | UnmountFlags.NoFollow);
            }

            DeleteEntryFiles(name);
            RemoveStageIfEmpty(trace);
            throw new StageException(StageFailure.Failed, $"Could not keep the staged mount as '{name}': {ex.Message}", ex as SyscallException);
        }
    }

    /// <summary>The names of the kept mounts, sorted.</summary>
    /// <summary>
    /// The staged names a -Name value stands for: a literal name as it is (a missing one is reported by whoever opens it),
    /// a wildcard pattern as the matching names staged now.
    /// </summary>
    internal static IReadOnlyList<string> Matching(string pattern)
    {
        if (!WildcardPattern.ContainsWildcardCharacters(pattern))
        {
            return new[] { pattern };
        }

        var wildcard = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
        return Names().Where(n => wildcard.IsMatch(n)).ToList();
    }

    internal static IReadOnlyList<string> Names()
    {
        if (!Directory.Exists(Root))
        {
            return Array.Empty<string>();
        }

        return Directory.EnumerateFileSystemEntries(Root).Select(Path.GetFileName).OfType<string>()
            .Where(IsValidName).OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>A fresh detached clone of the kept mount, and its record (null when the record is missing).</summary>
    internal static (SafeMountHandle Clone, StageRecord? Record) Open(string name)
    {
        RequireValid(name);
        StageRecord? record = ReadRecord(name);
        if (!Path.Exists(EntryPath(name)))
        {
            throw new StageException(StageFailure.NotFound, $"No staged mount named '{name}' in {Root}.");
        }

        if (!IsMountRoot(EntryPath(name)))
        {
            throw new StageException(StageFailure.NotFound, $"'{EntryPath(name)}' exists but nothing is mounted there (it was unmounted by hand, or this is another mount namespace).");
        }

        try
        {
            return (CloneEntry(name, record?.Recurse ?? true), record);
        }
        catch (SyscallException ex)
        {
            throw new StageException(StageFailure.Failed, $"Could not clone the staged mount '{name}': {ex.Message}", ex);
        }
    }

    internal static StageRecord? ReadRecord(string name)
    {
        try
        {
            return StageRecord.FromJson(File.ReadAllText(MetaPath(name)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Detaches the kept mount and removes its entry; unmounts the stage when it was the last one.</summary>
    internal static void Remove(string name, Action<string>? trace)
    {
        RequireValid(name);
        using Lock held = Lock.Take();
        string entry = EntryPath(name);
        if (!Path.Exists(entry) && !File.Exists(MetaPath(name)))
        {
            throw new StageException(StageFailure.NotFound, $"No staged mount named '{name}' in {Root}.");
        }

        while (Path.Exists(entry) && IsMountRoot(entry))
        {
            int errno = MountSyscalls.TryUnmount(entry, UnmountFlags.Detach | UnmountFlags.NoFollow);
            trace?.Invoke($"umount2(\"{entry}\", MNT_DETACH|UMOUNT_NOFOLLOW) = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
            if (errno != 0)
            {
                throw new StageException(StageFailure.Failed, $"Could not unmount the staged mount '{name}'.", SyscallException.Create("umount2", errno, entry));
            }
        }

        DeleteEntryFiles(name);
        RemoveStageIfEmpty(trace);
    }

    private static SafeMountHandle CloneEntry(string name, bool recurse) =>
        MountSyscalls.OpenTree(null, EntryPath(name),
            OpenTreeFlags.Clone | OpenTreeFlags.SymlinkNoFollow | (recurse ? OpenTreeFlags.Recursive : OpenTreeFlags.None));

    private static string MetaPath(string name) => Path.Combine(MetaDirectory, name + ".json");

    private static void RequireValid(string name)
    {
        if (!IsValidName(name))
        {
            throw new StageException(StageFailure.InvalidName,
                $"'{name}' is not a valid stage name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
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
            Directory.CreateDirectory(MetaDirectory);
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
        Directory.CreateDirectory(MetaDirectory);
    }

    private static void DeleteEntryFiles(string name)
    {
        string entry = EntryPath(name);
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

            File.Delete(MetaPath(name));
        }
        catch (IOException)
        {
            // Still mounted over (by someone else in this namespace): left for the next Remove-StagedMount.
        }
    }

    private static void RemoveStageIfEmpty(Action<string>? trace)
    {
        if (!Directory.Exists(Root) || Names().Count > 0 || !IsMountRoot(Root))
        {
            return;
        }

        int errno = MountSyscalls.TryUnmount(Root, UnmountFlags.Detach | UnmountFlags.NoFollow);
        trace?.Invoke($"umount2(\"{Root}\", MNT_DETACH) = {(errno == 0 ? "0" : ErrnoText.Name(errno))} (the stage is empty)");
        if (errno == 0)
        {
            try
            {
                Directory.Delete(Root);
            }
            catch (IOException)
            {
            }
        }
    }

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
