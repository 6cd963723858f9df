
namespace MountHotplug;

public enum StagedMountState
{
    /// <summary>Detached: exists only through its descriptor.</summary>
    Staged,

    /// <summary>Attached inside a namespace; the descriptor has been released.</summary>
    Attached,

    /// <summary>Disposed before it was attached: the detached mount is gone.</summary>
    Disposed,

    /// <summary>Attached, then unmounted again by Remove-Mount.</summary>
    Removed,
}

/// <summary>
/// A detached mount made by New-StagedMount (a clone of a host path, or a new filesystem). It owns the mount's descriptor: disposing a still-staged mount
/// dissolves it, so nothing is ever left mounted by an object that was dropped.
/// </summary>
public sealed partial class StagedMount : IDisposable
{
    // Null for a description rebuilt from a deserialized object (FromDeserialized): it owns no descriptor.
    private readonly SafeMountHandle? _handle;

    // Typed for C# (GetPropagation, GetState); PowerShell sees the names, which JSON and CliXml keep as they are.
    private readonly MountPropagation _propagation;
    private StagedMountState _state;

    internal StagedMount(string source, SafeMountHandle? handle, StatxInfo info, bool recurse, MountAttributes attributes, MountPropagation propagation,
        ulong? idMapUserNamespace = null, string? stageName = null, string? stageContainer = null)
    {
        IdMapUserNamespaceId = idMapUserNamespace;
        StageName = stageName;
        StageContainer = stageContainer;
        Source = source;
        _handle = handle;
        Info = info;
        Recurse = recurse;
        AttributeFlags = attributes;
        _propagation = propagation;
    }

    /// <summary>The host path that was cloned; for a new filesystem, its -Source (a device, or a name), else its type.</summary>
    public string Source { get; }

    /// <summary>For a new filesystem (New-StagedMount -FileSystem): its type, e.g. "tmpfs" or "ext4"; null for a clone.</summary>
    public string? FileSystem { get; internal init; }

    /// <summary>For a new filesystem: the parameters given to fsconfig, e.g. "size=64m".</summary>
    public IReadOnlyList<string> Options { get; internal init; } = Array.Empty<string>();

    /// <summary>The mount's id (the 64-bit unique id on Linux 6.8+, else the mountinfo id).</summary>
    public ulong MountId => Info.MountId;

    public bool IsDirectory => Info.IsDirectory;

    public bool Recurse { get; }

    public bool ReadOnly => AttributeFlags.HasFlag(MountAttributes.ReadOnly);

    public bool NoSuid => AttributeFlags.HasFlag(MountAttributes.NoSuid);

    public bool NoDev => AttributeFlags.HasFlag(MountAttributes.NoDev);

    public bool NoExec => AttributeFlags.HasFlag(MountAttributes.NoExec);

    /// <summary>"Private", "Shared", "Slave" or "Unbindable": the propagation it was staged with (<see cref="GetPropagation"/>).</summary>
    public string Propagation => _propagation.ToString();

    /// <summary>Whether files show with ids mapped through a container's user namespace (MOUNT_ATTR_IDMAP).</summary>
    public bool IdMapped => IdMapUserNamespaceId is not null;

    /// <summary>The inode number of the user namespace the mount is idmapped through.</summary>
    public ulong? IdMapUserNamespaceId { get; }

    /// <summary>The name it is kept under in the stage (New-StagedMount -StageName, Get-StagedMount), if any.</summary>
    public string? StageName { get; }

    /// <summary>The container it is kept for in the stage (New-StagedMount -Container), if any.</summary>
    public string? StageContainer { get; }

    /// <summary>"ro,nosuid,nodev,noexec" — the attributes this object set, as mount options read.</summary>
    public string Attributes => FormatAttributes(AttributeFlags) + (IdMapped ? ",idmapped" : string.Empty);

    /// <summary>"Staged", "Attached", "Disposed" or "Removed" (<see cref="GetState"/>).</summary>
    public string State => _state.ToString();

    /// <summary>
    /// Where it was attached, inside the container; while it is staged, the target its input row named (Import-Csv, a
    /// hashtable), which Move-MountIntoNamespace binds by property name when it is given no -Target.
    /// </summary>
    public string? Target { get; private set; }

    internal string? RequestedTarget
    {
        init => Target = value;
    }

    /// <summary>The PID whose mount namespace it was attached in.</summary>
    public int? NamespaceProcessId { get; private set; }

    /// <summary>
    /// When that process started (clock ticks after boot, /proc/PID/stat field 22): with <see cref="NamespaceProcessId"/> and
    /// <see cref="MountNamespaceId"/> it names the container again after <see cref="Namespace"/> was disposed or lost in
    /// serialization, and a PID reused by another process never matches it.
    /// </summary>
    public ulong? NamespaceProcessStartTime { get; private set; }

    public ulong? MountNamespaceId { get; private set; }

    /// <summary>The namespace it was attached in, so that commands taking a mount from the pipeline (by Target and Namespace) find it.</summary>
    public ContainerNamespace? Namespace { get; private set; }

    /// <summary>Directories (or the empty file) that Move-MountIntoNamespace -CreateTarget made to reach Target, outermost
    /// first; Remove-Mount -RemoveTarget removes them again.</summary>
    public IReadOnlyList<string> CreatedPaths { get; private set; } = Array.Empty<string>();

    /// <summary>With Move-MountIntoNamespace -Replace: the id of the mount it replaced (detached) at Target.</summary>
    public ulong? ReplacedMountId { get; private set; }

    /// <summary>Attached with Move-MountIntoNamespace -Seal: its flags are locked against the container's root.</summary>
    public bool Sealed { get; private set; }

    internal MountAttributes AttributeFlags { get; }

    internal StatxInfo Info { get; }

    /// <summary>What statx said of the mount when it was made (its owner, kind and mount id).</summary>
    public StatxInfo Stat() => Info;

    /// <summary>The descriptor of a still-staged mount.</summary>
    internal SafeMountHandle Handle
    {
        get
        {
            if (_state != StagedMountState.Staged || _handle is null || _handle.IsClosed)
            {
                throw new InvalidOperationException($"The staged mount of '{Source}' is {State.ToLowerInvariant()}; stage it again with New-StagedMount.");
            }

            return _handle;
        }
    }

    internal void MarkAttached(string target, ContainerNamespace ns, IReadOnlyList<string>? createdPaths = null, ulong? replacedMountId = null, bool sealedMount = false)
    {
        _state = StagedMountState.Attached;
        Sealed = sealedMount;
        Target = target;
        CreatedPaths = createdPaths ?? Array.Empty<string>();
        ReplacedMountId = replacedMountId;
        Namespace = ns;
        NamespaceProcessId = ns.ProcessId;
        NamespaceProcessStartTime = ns.ProcessStartTime;
        MountNamespaceId = ns.MountNamespaceId;

        // The mount now lives in the container's table; its descriptor is no longer needed to keep it.
        _handle?.Dispose();
    }

    /// <summary>
    /// The description of an attached mount made by another process (a background job, a remote session, a saved file): no
    /// descriptor and no namespace object, only what names the container and the mount again, so that an unmount can re-pin
    /// the container and prove the mount before it touches anything.
    /// </summary>
    public static StagedMount Describe(AttachedMountRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        const uint directory = 0x4000, regularFile = 0x8000;
        var info = new StatxInfo(0, record.IsDirectory ? directory : regularFile, 0, 0, 0, 0, 0, record.MountId,
            MountIdIsUnique: true, IsMountRoot: true, MountRootKnown: true);
        return new StagedMount(record.Source, handle: null, info, record.Recurse, record.Attributes, record.Propagation,
            stageName: record.StageName, stageContainer: record.StageContainer)
        {
            _state = record.State,
            Target = record.Target,
            NamespaceProcessId = record.NamespaceProcessId,
            NamespaceProcessStartTime = record.NamespaceProcessStartTime,
            MountNamespaceId = record.MountNamespaceId,
            CreatedPaths = record.CreatedPaths,
            ReplacedMountId = record.ReplacedMountId,
        };
    }

    /// <summary>Remove-Mount unmounted it; what -RemoveTarget removed is no longer listed.</summary>
    internal void MarkRemoved(IReadOnlyList<string> stillPresent)
    {
        _state = StagedMountState.Removed;
        CreatedPaths = stillPresent;
    }

    /// <summary>Remove-Mount removed one of its created paths later, after another mount that kept it non-empty went.</summary>
    internal void ForgetCreatedPath(string path) => CreatedPaths = CreatedPaths.Where(p => p != path).ToList();

    public void Dispose()
    {
        if (_state == StagedMountState.Staged)
        {
            _state = StagedMountState.Disposed;
        }

        _handle?.Dispose();
    }

    /// <summary>The propagation it was staged with, typed.</summary>
    public MountPropagation GetPropagation() => _propagation;

    /// <summary>Where in its life it is, typed.</summary>
    public StagedMountState GetState() => _state;

    public override string ToString() => _state switch
    {
        StagedMountState.Attached => $"{Source} -> {Target} in PID {NamespaceProcessId} ({Attributes})",
        StagedMountState.Removed => $"{Source} (removed from {Target} in PID {NamespaceProcessId})",
        _ => $"{Source} ({State.ToLowerInvariant()}, {Attributes})",
    };

    internal static string FormatAttributes(MountAttributes attributes)
    {
        var parts = new List<string> { attributes.HasFlag(MountAttributes.ReadOnly) ? "ro" : "rw" };
        if (attributes.HasFlag(MountAttributes.NoSuid)) parts.Add("nosuid");
        if (attributes.HasFlag(MountAttributes.NoDev)) parts.Add("nodev");
        if (attributes.HasFlag(MountAttributes.NoExec)) parts.Add("noexec");
        return string.Join(",", parts);
    }
}

/// <summary>What names an attached mount again, as a serialized StagedMount carries it.</summary>
public sealed record AttachedMountRecord(string Source, ulong MountId, bool IsDirectory)
{
    public bool Recurse { get; init; }
    public MountAttributes Attributes { get; init; }
    public MountPropagation Propagation { get; init; }
    public string? StageName { get; init; }
    public string? StageContainer { get; init; }
    public StagedMountState State { get; init; }
    public string? Target { get; init; }
    public int? NamespaceProcessId { get; init; }
    public ulong? NamespaceProcessStartTime { get; init; }
    public ulong? MountNamespaceId { get; init; }
    public IReadOnlyList<string> CreatedPaths { get; init; } = Array.Empty<string>();
    public ulong? ReplacedMountId { get; init; }
}
