
namespace MountHotplug;

/// <summary>
/// One mount of a mount namespace, as Get-Mount lists it: everything <see cref="MountEntry"/> tells, and the namespace it was
/// listed from. Commands that take a mount from the pipeline bind it by property: <see cref="MountPoint"/> and
/// <see cref="Namespace"/> name the mount again, and the unique mount id proves it is still the same one.
/// </summary>
/// <remarks>
/// A class of read-only properties over the entry, not a record deriving from it: what PowerShell shows of an output object
/// (Get-Member, Format-List *, Export-Clixml, ConvertTo-Json) is its public surface, and a record's is a compiler-made clone
/// method and setters for every property. Its flags and states are names (strings), as PowerShell shows them, so that JSON
/// and CliXml keep them as names and filters such as Where-Object Propagation -eq Shared still match after a round trip;
/// C# callers get the typed record with <see cref="ToEntry"/>, or read the table with <see cref="MountTable"/>.
/// </remarks>
public sealed class Mount
{
    public Mount(MountEntry entry, ContainerNamespace? ns)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Entry = entry;
        Namespace = ns;
    }

    /// <summary>The mount as it was listed, with another namespace object for its container (one pinned again, say).</summary>
    public Mount(Mount mount, ContainerNamespace? ns)
        : this((mount ?? throw new ArgumentNullException(nameof(mount))).Entry, ns)
    {
    }

    /// <summary>The entry as the mount table was read.</summary>
    internal MountEntry Entry { get; }

    /// <summary>The container namespace it was listed from; null for the caller's own mount namespace.</summary>
    public ContainerNamespace? Namespace { get; }

    /// <inheritdoc cref="MountEntry.MountId"/>
    public ulong MountId => Entry.MountId;

    /// <inheritdoc cref="MountEntry.OldMountId"/>
    public int OldMountId => Entry.OldMountId;

    /// <inheritdoc cref="MountEntry.ParentId"/>
    public ulong ParentId => Entry.ParentId;

    /// <inheritdoc cref="MountEntry.OldParentId"/>
    public int OldParentId => Entry.OldParentId;

    public uint DeviceMajor => Entry.DeviceMajor;

    public uint DeviceMinor => Entry.DeviceMinor;

    /// <inheritdoc cref="MountEntry.Device"/>
    public string Device => Entry.Device;

    /// <inheritdoc cref="MountEntry.Root"/>
    public string Root => Entry.Root;

    /// <inheritdoc cref="MountEntry.MountPoint"/>
    public string MountPoint => Entry.MountPoint;

    /// <inheritdoc cref="MountEntry.FileSystemType"/>
    public string FileSystemType => Entry.FileSystemType;

    /// <inheritdoc cref="MountEntry.Source"/>
    public string Source => Entry.Source;

    /// <summary>The per-mount attributes by name: "ReadOnly, NoSuid, NoAtime" ("None" for rw,relatime).</summary>
    public string AttributeFlags => Entry.AttributeFlags.ToString();

    public bool ReadOnly => Entry.ReadOnly;

    public bool NoSuid => Entry.NoSuid;

    public bool NoDev => Entry.NoDev;

    public bool NoExec => Entry.NoExec;

    public bool NoDirAtime => Entry.NoDirAtime;

    public bool NoSymFollow => Entry.NoSymFollow;

    /// <inheritdoc cref="MountEntry.IdMapped"/>
    public bool IdMapped => Entry.IdMapped;

    /// <summary>"RelAtime", "NoAtime" or "StrictAtime".</summary>
    public string Atime => Entry.Atime.ToString();

    /// <inheritdoc cref="MountEntry.Options"/>
    public string Options => Entry.Options;

    /// <inheritdoc cref="MountEntry.SuperOptions"/>
    public string SuperOptions => Entry.SuperOptions;

    /// <summary>"Shared", "Slave", "Shared, Slave" (a slave that is shared too), "Unbindable", or "Private".</summary>
    public string Propagation => Entry.Propagation.ToString();

    /// <inheritdoc cref="MountEntry.PeerGroup"/>
    public ulong PeerGroup => Entry.PeerGroup;

    /// <inheritdoc cref="MountEntry.Master"/>
    public ulong Master => Entry.Master;

    /// <inheritdoc cref="MountEntry.PropagateFrom"/>
    public ulong PropagateFrom => Entry.PropagateFrom;

    /// <inheritdoc cref="MountEntry.PropagationText"/>
    public string PropagationText => Entry.PropagationText;

    /// <inheritdoc cref="MountEntry.UidMap"/>
    public IReadOnlyList<string> UidMap => Entry.UidMap;

    /// <inheritdoc cref="MountEntry.GidMap"/>
    public IReadOnlyList<string> GidMap => Entry.GidMap;

    /// <inheritdoc cref="MountEntry.NamespaceId"/>
    public ulong NamespaceId => Entry.NamespaceId;

    /// <summary>"ListMount" (listmount and statmount) or "MountInfo" (/proc/PID/mountinfo).</summary>
    public string ReadWith => Entry.ReadWith.ToString();

    /// <summary>The mount as the table was read, with its flags and states typed.</summary>
    public MountEntry ToEntry() => Entry;

    public override string ToString() => Entry.ToString();
}
