using MountHotplug.Native;

namespace MountHotplug;

public enum StagedMountState
{
    /// <summary>Detached: exists only through its descriptor.</summary>
    Staged,

    /// <summary>Attached inside a namespace; the descriptor has been released.</summary>
    Attached,

    /// <summary>Disposed before it was attached: the detached mount is gone.</summary>
    Disposed,
}

/// <summary>
/// A detached mount made by New-StagedMount. It owns the mount's descriptor: disposing a still-staged mount
/// dissolves it, so nothing is ever left mounted by an object that was dropped.
/// </summary>
public sealed class StagedMount : IDisposable
{
    private readonly SafeMountHandle _handle;

    internal StagedMount(string source, SafeMountHandle handle, StatxInfo info, bool recurse, MountAttributes attributes, MountPropagation propagation,
        ulong? idMapUserNamespace = null, string? stageName = null)
    {
        IdMapUserNamespaceId = idMapUserNamespace;
        StageName = stageName;
        Source = source;
        _handle = handle;
        Info = info;
        Recurse = recurse;
        AttributeFlags = attributes;
        Propagation = propagation;
    }

    /// <summary>The host path that was cloned.</summary>
    public string Source { get; }

    /// <summary>The mount's id (the 64-bit unique id on Linux 6.8+, else the mountinfo id).</summary>
    public ulong MountId => Info.MountId;

    public bool IsDirectory => Info.IsDirectory;

    public bool Recurse { get; }

    public bool ReadOnly => AttributeFlags.HasFlag(MountAttributes.ReadOnly);

    public bool NoSuid => AttributeFlags.HasFlag(MountAttributes.NoSuid);

    public bool NoDev => AttributeFlags.HasFlag(MountAttributes.NoDev);

    public bool NoExec => AttributeFlags.HasFlag(MountAttributes.NoExec);

    public MountPropagation Propagation { get; }

    /// <summary>Whether files show with ids mapped through a container's user namespace (MOUNT_ATTR_IDMAP).</summary>
    public bool IdMapped => IdMapUserNamespaceId is not null;

    /// <summary>The inode number of the user namespace the mount is idmapped through.</summary>
    public ulong? IdMapUserNamespaceId { get; }

    /// <summary>The name it is kept under in the stage (New-StagedMount -StageName, Get-StagedMount), if any.</summary>
    public string? StageName { get; }

    /// <summary>"ro,nosuid,nodev,noexec" — the attributes this object set, as mount options read.</summary>
    public string Attributes => FormatAttributes(AttributeFlags) + (IdMapped ? ",idmapped" : string.Empty);

    public StagedMountState State { get; private set; }

    /// <summary>Where it was attached, inside the container.</summary>
    public string? Target { get; private set; }

    /// <summary>The PID whose mount namespace it was attached in.</summary>
    public int? NamespaceProcessId { get; private set; }

    public ulong? MountNamespaceId { get; private set; }

    /// <summary>The namespace it was attached in, so that commands taking a mount from the pipeline (by Target and Namespace) find it.</summary>
    public ContainerNamespace? Namespace { get; private set; }

    internal MountAttributes AttributeFlags { get; }

    internal StatxInfo Info { get; }

    /// <summary>The descriptor of a still-staged mount.</summary>
    internal SafeMountHandle Handle
    {
        get
        {
            if (State != StagedMountState.Staged || _handle.IsClosed)
            {
                throw new InvalidOperationException($"The staged mount of '{Source}' is {State.ToString().ToLowerInvariant()}; stage it again with New-StagedMount.");
            }

            return _handle;
        }
    }

    internal void MarkAttached(string target, ContainerNamespace ns)
    {
        State = StagedMountState.Attached;
        Target = target;
        Namespace = ns;
        NamespaceProcessId = ns.ProcessId;
        MountNamespaceId = ns.MountNamespaceId;

        // The mount now lives in the container's table; its descriptor is no longer needed to keep it.
        _handle.Dispose();
    }

    public void Dispose()
    {
        if (State == StagedMountState.Staged)
        {
            State = StagedMountState.Disposed;
        }

        _handle.Dispose();
    }

    public override string ToString() => State switch
    {
        StagedMountState.Attached => $"{Source} -> {Target} in PID {NamespaceProcessId} ({Attributes})",
        _ => $"{Source} ({State.ToString().ToLowerInvariant()}, {Attributes})",
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
