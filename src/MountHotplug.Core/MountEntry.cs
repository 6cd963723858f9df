namespace MountHotplug;

/// <summary>How reading a file through a mount updates its access time.</summary>
public enum AtimeMode
{
    /// <summary>relatime: only when it is older than the modification time, or a day old (the default).</summary>
    RelAtime,

    /// <summary>noatime: never.</summary>
    NoAtime,

    /// <summary>strictatime: on every read.</summary>
    StrictAtime,
}

/// <summary>Where a mount table was read from.</summary>
public enum MountTableSource
{
    /// <summary>listmount and statmount where the kernel has them (6.8+; 6.11+ for another namespace), else mountinfo.</summary>
    Auto,

    /// <summary>listmount(2) and statmount(2).</summary>
    ListMount,

    /// <summary>/proc/PID/mountinfo.</summary>
    MountInfo,
}

/// <summary>
/// One mount of a mount namespace, as that namespace's process sees it, with everything the kernel tells about it: ids,
/// where it is, what it shows, its per-mount attributes and superblock options, and its place in mount propagation.
/// Read from listmount/statmount, or parsed from /proc/PID/mountinfo where those calls are missing (then the fields that
/// only statmount has are 0 or empty: <see cref="MountId"/>, <see cref="ParentId"/>, the id maps).
/// </summary>
public record MountEntry
{
    /// <summary>The 64-bit unique mount id (6.8+; never reused while the system runs); 0 when read from mountinfo.</summary>
    public ulong MountId { get; init; }

    /// <summary>The mount id /proc/PID/mountinfo shows (small, reused after an unmount).</summary>
    public int OldMountId { get; init; }

    /// <summary>The parent mount's unique id; 0 when read from mountinfo.</summary>
    public ulong ParentId { get; init; }

    /// <summary>The parent mount's mountinfo id.</summary>
    public int OldParentId { get; init; }

    public uint DeviceMajor { get; init; }

    public uint DeviceMinor { get; init; }

    /// <summary>"major:minor" of the superblock: mounts with the same device show the same filesystem.</summary>
    public string Device => $"{DeviceMajor}:{DeviceMinor}";

    /// <summary>The directory of the filesystem that this mount shows at its mount point ("/" for a whole filesystem).</summary>
    public string Root { get; init; } = "/";

    /// <summary>Where the mount is, as the process of its namespace sees it (relative to that process's root).</summary>
    public string MountPoint { get; init; } = "/";

    /// <summary>"ext4", "tmpfs", "fuse.sshfs" (type.subtype), as mountinfo names it.</summary>
    public string FileSystemType { get; init; } = string.Empty;

    /// <summary>The source: a device, a name given to the filesystem, or "none".</summary>
    public string Source { get; init; } = "none";

    /// <summary>The per-mount attributes as MOUNT_ATTR_* bits (the atime mode is an enum inside <see cref="MountAttributes.AtimeMask"/>).</summary>
    public MountAttributes AttributeFlags { get; init; }

    public bool ReadOnly => (AttributeFlags & MountAttributes.ReadOnly) != 0;

    public bool NoSuid => (AttributeFlags & MountAttributes.NoSuid) != 0;

    public bool NoDev => (AttributeFlags & MountAttributes.NoDev) != 0;

    public bool NoExec => (AttributeFlags & MountAttributes.NoExec) != 0;

    public bool NoDirAtime => (AttributeFlags & MountAttributes.NoDirAtime) != 0;

    public bool NoSymFollow => (AttributeFlags & MountAttributes.NoSymFollow) != 0;

    /// <summary>Whether the mount maps file owners through a user namespace (<see cref="UidMap"/>, <see cref="GidMap"/>).</summary>
    public bool IdMapped => (AttributeFlags & MountAttributes.IdMap) != 0;

    public AtimeMode Atime => MountOptions.AtimeOf(AttributeFlags);

    /// <summary>The per-mount options as mountinfo shows them: "ro,nosuid,nodev,relatime".</summary>
    public string Options { get; init; } = "rw";

    /// <summary>The superblock's options as mountinfo shows them: "rw,size=4k,mode=755". Shared by every mount of the filesystem.</summary>
    public string SuperOptions { get; init; } = "rw";

    /// <summary>Shared, Slave (both at once for a slave that is shared too), Unbindable, or Private (none).</summary>
    public PropagationState Propagation { get; init; }

    /// <summary>The peer group of a shared mount; 0 when it is not shared.</summary>
    public ulong PeerGroup { get; init; }

    /// <summary>The peer group a slave receives from; 0 when it is no slave.</summary>
    public ulong Master { get; init; }

    /// <summary>
    /// For a slave whose master has no member visible in this namespace: the closest peer group up the chain of masters
    /// that has one, where its events come from (mountinfo's propagate_from); else 0.
    /// </summary>
    public ulong PropagateFrom { get; init; }

    /// <summary>"shared:12 master:3", as in mountinfo; "private" when neither.</summary>
    public string PropagationText => MountInfo.FormatPropagation(PeerGroup, Master, PropagateFrom, (Propagation & PropagationState.Unbindable) != 0);

    /// <summary>The uid mapping of an idmapped mount, one "first lower-first count" extent per entry; empty otherwise.</summary>
    public IReadOnlyList<string> UidMap { get; init; } = Array.Empty<string>();

    /// <summary>The gid mapping of an idmapped mount; empty otherwise.</summary>
    public IReadOnlyList<string> GidMap { get; init; } = Array.Empty<string>();

    /// <summary>The kernel's 64-bit id of the mount namespace (statmount mnt_ns_id, NS_GET_MNTNS_ID); 0 where the kernel has none.</summary>
    public ulong NamespaceId { get; init; }

    /// <summary>Whether this entry came from listmount/statmount or from mountinfo.</summary>
    public MountTableSource ReadWith { get; init; }

    public sealed override string ToString() => $"{MountPoint} ({FileSystemType} {Source}, {Options}, {PropagationText})";
}

/// <summary>The per-mount options string of mountinfo, to and from MOUNT_ATTR_* bits (fs/proc_namespace.c, show_mnt_opts).</summary>
public static class MountOptions
{
    private static readonly (MountAttributes Flag, string Name)[] Flags =
    {
        (MountAttributes.NoSuid, "nosuid"),
        (MountAttributes.NoDev, "nodev"),
        (MountAttributes.NoExec, "noexec"),
    };

    public static AtimeMode AtimeOf(MountAttributes attributes) => (attributes & MountAttributes.AtimeMask) switch
    {
        MountAttributes.NoAtime => AtimeMode.NoAtime,
        MountAttributes.StrictAtime => AtimeMode.StrictAtime,
        _ => AtimeMode.RelAtime,
    };

    // A mount table has thousands of mounts and a handful of distinct attribute sets: each string is made once. The
    // string depends on the low 8 bits and on IdMap and NoSymFollow only, so those 10 bits index it. An array, not a
    // dictionary keyed by the enum: that would be code the JIT compiles in every process (ReadyToRun images hold no
    // instantiation of the framework's generics over the module's value types). Two threads may both make a string.
    private static readonly string?[] Formatted = new string?[1 << 10];

    /// <summary>"ro,nosuid,noatime": the kernel's order (ro/rw, nosuid, nodev, noexec, noatime, nodiratime, relatime, nosymfollow, idmapped).</summary>
    public static string Format(MountAttributes attributes)
    {
        ulong bits = (ulong)attributes;
        int index = (int)(bits & 0xff) | (int)((bits >> 12) & 0x300);
        return Volatile.Read(ref Formatted[index]) ?? (Formatted[index] = FormatUncached(attributes));
    }

    private static string FormatUncached(MountAttributes attributes)
    {
        var parts = new List<string> { (attributes & MountAttributes.ReadOnly) != 0 ? "ro" : "rw" };
        foreach (var (flag, name) in Flags)
        {
            if ((attributes & flag) != 0)
            {
                parts.Add(name);
            }
        }

        AtimeMode atime = AtimeOf(attributes);
        if (atime == AtimeMode.NoAtime) parts.Add("noatime");
        if ((attributes & MountAttributes.NoDirAtime) != 0) parts.Add("nodiratime");
        if (atime == AtimeMode.RelAtime) parts.Add("relatime");
        if ((attributes & MountAttributes.NoSymFollow) != 0) parts.Add("nosymfollow");
        if ((attributes & MountAttributes.IdMap) != 0) parts.Add("idmapped");
        return string.Join(",", parts);
    }

    /// <summary>The MOUNT_ATTR_* bits of a mountinfo options field; no "relatime" and no "noatime" means strictatime.</summary>
    public static MountAttributes Parse(string options)
    {
        MountAttributes attributes = MountAttributes.StrictAtime;
        foreach (string option in options.Split(','))
        {
            attributes |= option switch
            {
                "ro" => MountAttributes.ReadOnly,
                "nosuid" => MountAttributes.NoSuid,
                "nodev" => MountAttributes.NoDev,
                "noexec" => MountAttributes.NoExec,
                "nodiratime" => MountAttributes.NoDirAtime,
                "nosymfollow" => MountAttributes.NoSymFollow,
                "idmapped" => MountAttributes.IdMap,
                _ => MountAttributes.None,
            };
            if (option == "noatime")
            {
                attributes = (attributes & ~MountAttributes.AtimeMask) | MountAttributes.NoAtime;
            }
            else if (option == "relatime")
            {
                attributes &= ~MountAttributes.AtimeMask;
            }
        }

        return attributes;
    }
}
