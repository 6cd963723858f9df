using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MountHotplug.Sync;

/// <summary>A mount Sync placed in a container: what it is (its unique id) and what it was made from.</summary>
public sealed record SyncRecord
{
    public required string Target { get; init; }

    /// <summary>The unique mount id (statx STATX_MNT_ID_UNIQUE): never reused while the system runs, so it names this mount alone.</summary>
    public required ulong MountId { get; init; }

    public required string Source { get; init; }

    public MountAttributes Flags { get; init; }

    public MountPropagation Propagation { get; init; } = MountPropagation.Private;

    public bool Recurse { get; init; }

    /// <summary>The inode of the user namespace it is idmapped through; null when it is not idmapped.</summary>
    public ulong? IdMapUserNamespace { get; init; }

    /// <summary>What was created inside the container to reach the target (outermost first); -Prune removes it again.</summary>
    public IReadOnlyList<string> CreatedPaths { get; init; } = Array.Empty<string>();

    public DateTime Placed { get; init; }
}

/// <summary>Which container a state file belongs to: its mount namespace and its pinned process (a PID and its start time).</summary>
public readonly record struct SyncStateKey(ulong MountNamespaceId, int ProcessId, ulong ProcessStartTime)
{
    public static SyncStateKey Of(ContainerNamespace ns) => new(ns.MountNamespaceId, ns.ProcessId, ns.ProcessStartTime);

    /// <summary>"4026532175-15787-123456": the file name without its extension.</summary>
    public string FileStem => string.Create(CultureInfo.InvariantCulture, $"{MountNamespaceId}-{ProcessId}-{ProcessStartTime}");

    /// <summary>The key a state file's (or lock file's) name says, or null for a name that is not one.</summary>
    public static SyncStateKey? FromFileName(string fileName)
    {
        if (!fileName.EndsWith(".json", StringComparison.Ordinal) && !fileName.EndsWith(".lock", StringComparison.Ordinal))
        {
            return null;
        }

        string[] parts = fileName[..^".json".Length].Split('-');
        return parts.Length == 3
            && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong ns)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            && ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out ulong start)
                ? new SyncStateKey(ns, pid, start)
                : null;
    }
}

/// <summary>
/// What Sync placed in each container, one JSON file per container under /run/mounthotplug/sync (root's, 0700), named by the
/// container's mount namespace, PID and process start time: a container that was restarted, or a PID that now belongs to
/// another process, has another name, so an old file is never read for it. Files are written whole (a temporary file,
/// fsync, rename) with mode 0600, and read only when root owns them and nobody else can write them. A run holds an flock
/// on the container's lock file from its first read to its last write, so two Syncs of one container do not interleave.
/// </summary>
public sealed class SyncStateStore : IDisposable
{
    public const string DefaultDirectory = "/run/mounthotplug/sync";

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode StateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const uint GroupOrOtherWrite = 0x12; // 0022
    private const string NotLinux = "Sync's state lives in /run/mounthotplug on Linux.";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly SafePathHandle _lock;
    private readonly Action<string>? _trace;

    private SyncStateStore(string directory, SyncStateKey key, SafePathHandle lockFile, Action<string>? trace)
    {
        Directory = directory;
        Key = key;
        _lock = lockFile;
        _trace = trace;
    }

    public string Directory { get; }

    public SyncStateKey Key { get; }

    /// <summary>The container's state file (it need not exist).</summary>
    public string FilePath => Path.Combine(Directory, Key.FileStem + ".json");

    private static string LockPathOf(string directory, SyncStateKey key) => Path.Combine(directory, key.FileStem + ".lock");

    /// <summary>Takes the container's lock (waiting for another Sync of it to finish); dispose to release it.</summary>
    /// <exception cref="SyncStateException">The directory is not root's alone, or cannot be made.</exception>
    public static SyncStateStore Open(SyncStateKey key, string directory = DefaultDirectory, Action<string>? trace = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException(NotLinux);
        }

        try
        {
            // Only when missing: .NET's CreateDirectory calls mkdir even for a directory that exists, and a run that finds
            // everything in sync is to make no call that could change anything.
            if (!System.IO.Directory.Exists(directory))
            {
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(directory)!);
                System.IO.Directory.CreateDirectory(directory, DirectoryMode);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SyncStateException(directory, $"Could not make the directory of Sync's state files, '{directory}': {ex.Message}", ex);
        }

        RequireRootsAlone(directory, isDirectory: true);
        string lockPath = LockPathOf(directory, key);
        SafePathHandle lockFile;
        try
        {
            lockFile = MountSyscalls.Open(lockPath, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.NoFollow, 0x180 /* 0600 */);
        }
        catch (SyscallException ex)
        {
            throw new SyncStateException(lockPath, $"Could not open Sync's lock file '{lockPath}'.", ex);
        }

        try
        {
            MountSyscalls.LockExclusiveBlocking(lockFile, lockPath);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }

        trace?.Invoke($"flock(\"{lockPath}\", LOCK_EX) = 0");
        return new SyncStateStore(directory, key, lockFile, trace);
    }

    /// <summary>The records of the container, by target; empty when it has no state file yet.</summary>
    /// <exception cref="SyncStateException">The file is not root's alone, cannot be read, or belongs to another container.</exception>
    public Dictionary<string, SyncRecord> Read()
    {
        string path = FilePath;
        string text;
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            RequireRootsAlone(file, path, isDirectory: false);
            using var stream = new FileStream(file, FileAccess.Read);
            using var reader = new StreamReader(stream);
            text = reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            _trace?.Invoke($"open(\"{path}\") = ENOENT (no mounts placed by Sync in this container yet)");
            return new Dictionary<string, SyncRecord>(StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SyscallException)
        {
            throw new SyncStateException(path, $"Could not read Sync's state file '{path}': {ex.Message}", ex);
        }

        StateFile? state;
        try
        {
            state = JsonSerializer.Deserialize<StateFile>(text, Json);
        }
        catch (JsonException ex)
        {
            throw new SyncStateException(path, $"Sync's state file '{path}' is damaged: {ex.Message}", ex);
        }

        if (state is null || state.Version != StateFile.CurrentVersion)
        {
            throw new SyncStateException(path, $"Sync's state file '{path}' is not one this version writes (version {state?.Version}).");
        }

        var key = new SyncStateKey(state.MountNamespaceId, state.ProcessId, state.ProcessStartTime);
        if (key != Key)
        {
            throw new SyncStateException(path,
                $"Sync's state file '{path}' says it belongs to PID {state.ProcessId} (started at tick {state.ProcessStartTime}) in mount namespace {state.MountNamespaceId}, not to PID {Key.ProcessId} (tick {Key.ProcessStartTime}) in mount namespace {Key.MountNamespaceId}: it was copied or altered, and is not used.");
        }

        var records = new Dictionary<string, SyncRecord>(StringComparer.Ordinal);
        foreach (SyncRecord record in state.Mounts)
        {
            records[record.Target] = record;
        }

        _trace?.Invoke($"read(\"{path}\"): {records.Count} mount(s) placed by Sync");
        return records;
    }

    /// <summary>
    /// Replaces the container's state file with <paramref name="records"/> (removes it when there are none), then removes the state
    /// files of containers whose process is gone.
    /// </summary>
    public void Write(IEnumerable<SyncRecord> records)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException(NotLinux);
        }

        List<SyncRecord> list = records.OrderBy(r => r.Target, StringComparer.Ordinal).ToList();
        string path = FilePath;
        try
        {
            if (list.Count == 0)
            {
                File.Delete(path);
                _trace?.Invoke($"unlink(\"{path}\") (no mounts placed by Sync left)");
            }
            else
            {
                var state = new StateFile
                {
                    Version = StateFile.CurrentVersion,
                    MountNamespaceId = Key.MountNamespaceId,
                    ProcessId = Key.ProcessId,
                    ProcessStartTime = Key.ProcessStartTime,
                    Mounts = list,
                };
                string temporary = Path.Combine(Directory, $".{Key.FileStem}.{Environment.ProcessId}.tmp");
                using (var stream = new FileStream(temporary, new FileStreamOptions
                       {
                           Mode = System.IO.FileMode.Create, Access = FileAccess.Write, UnixCreateMode = StateFileMode, Options = FileOptions.None,
                       }))
                {
                    JsonSerializer.Serialize(stream, state, Json);
                    stream.Flush(flushToDisk: true);
                }

                File.Move(temporary, path, overwrite: true);
                _trace?.Invoke($"write(\"{temporary}\") + fsync + rename(\"{path}\"): {list.Count} mount(s) placed by Sync");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SyncStateException(path, $"Could not write Sync's state file '{path}': {ex.Message}", ex);
        }

        RemoveStale();
    }

    public void Dispose() => _lock.Dispose();

    // A container that stopped leaves its files behind; their names can never match a running process again, so they are
    // only clutter. Its lock file too: nobody syncs a container that is gone.
    private void RemoveStale()
    {
        foreach (string file in System.IO.Directory.EnumerateFiles(Directory))
        {
            if (SyncStateKey.FromFileName(Path.GetFileName(file)) is not { } key || key == Key || IsRunning(key))
            {
                continue;
            }

            try
            {
                File.Delete(file);
                _trace?.Invoke($"unlink(\"{file}\") (PID {key.ProcessId}, started at tick {key.ProcessStartTime}, is gone)");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another Sync removed it first, or it cannot be removed now: the next write tries again.
            }
        }
    }

    private static bool IsRunning(SyncStateKey key)
    {
        try
        {
            return ContainerNamespace.StartTimeOf(key.ProcessId) == key.ProcessStartTime;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return false;
        }
    }

    // Whoever can write here can make Sync believe it placed a mount it did not, and so replace or unplug it.
    private static void RequireRootsAlone(string directory, bool isDirectory)
    {
        using SafePathHandle handle = MountSyscalls.Open(directory, OpenFlags.Path | OpenFlags.NoFollow);
        RequireRootsAlone(handle, directory, isDirectory);
    }

    private static void RequireRootsAlone(SafeHandle handle, string path, bool isDirectory)
    {
        StatxInfo info = MountSyscalls.Statx(handle, path);
        bool rightKind = isDirectory ? info.IsDirectory : info.IsRegularFile;
        if (!rightKind || info.Uid != 0 || (info.Mode & GroupOrOtherWrite) != 0)
        {
            throw new SyncStateException(path,
                $"'{path}' is {(rightKind ? string.Empty : $"a {info.KindName}, ")}owned by uid {info.Uid} with mode {Convert.ToString(info.Mode & 0xFFF, 8)}: Sync trusts its state only in a {(isDirectory ? "directory" : "file")} that root owns and nobody else can write.");
        }
    }

    private sealed class StateFile
    {
        internal const int CurrentVersion = 1;

        public int Version { get; set; }

        public ulong MountNamespaceId { get; set; }

        public int ProcessId { get; set; }

        public ulong ProcessStartTime { get; set; }

        public List<SyncRecord> Mounts { get; set; } = new();
    }
}
