using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MountHotplug;

/// <summary>
/// One mount of a <see cref="MountTopology"/>. Ids, superblocks and peer groups are labels local to the topology (1, 2, …),
/// so that a topology says which mounts share a filesystem or a peer group without carrying the kernel's numbers.
/// </summary>
/// <remarks>
/// Setters are internal, so that PowerShell shows a topology read-only; [JsonInclude] lets the JSON reader set them anyway.
/// </remarks>
public sealed class TopologyMount
{
    /// <summary>1, 2, … in the order the mounts were created (unique mount id order).</summary>
    [JsonInclude]
    public int Id { get; internal init; }

    /// <summary>The parent's <see cref="Id"/>; null when the parent is outside the topology (the mount is at its top).</summary>
    [JsonInclude]
    public int? Parent { get; internal init; }

    /// <summary>The mount point relative to the topology's root: "" for the root itself, "a/b" below it.</summary>
    [JsonInclude]
    public string Path { get; internal init; } = string.Empty;

    [JsonInclude]
    public string FileSystemType { get; internal init; } = string.Empty;

    [JsonInclude]
    public string Source { get; internal init; } = "none";

    /// <summary>The directory of the filesystem the mount shows.</summary>
    [JsonInclude]
    public string Root { get; internal init; } = "/";

    /// <summary>Label of the superblock: mounts with the same label show the same filesystem.</summary>
    [JsonInclude]
    public int Superblock { get; internal init; }

    /// <summary>"major:minor" of the superblock where it was exported; used to find an existing source for a bind mount.</summary>
    [JsonInclude]
    public string Device { get; internal init; } = string.Empty;

    /// <summary>Per-mount options as mountinfo shows them ("ro,nosuid,relatime").</summary>
    [JsonInclude]
    public string Options { get; internal init; } = "rw,relatime";

    /// <summary>Superblock options as mountinfo shows them ("rw,size=1024k,mode=755").</summary>
    [JsonInclude]
    public string SuperOptions { get; internal init; } = "rw";

    /// <summary>Label of the peer group of a shared mount; null when it is not shared.</summary>
    [JsonInclude]
    public int? PeerGroup { get; internal init; }

    /// <summary>Label of the peer group a slave receives from; null when it is no slave.</summary>
    [JsonInclude]
    public int? Master { get; internal init; }

    [JsonInclude]
    public bool Unbindable { get; internal init; }
}

/// <summary>
/// A mount tree, or a subtree, with its sharing layout: which mounts are where, on which filesystems, and how they propagate
/// (peer groups and masters). Made from a mount table by <see cref="Export"/>, written and read as JSON, compared with
/// <see cref="Describe"/> (tree by path, partition into peer groups and superblocks, master relations; ids ignored), and rebuilt
/// by <see cref="TopologyRestore"/>.
/// </summary>
public sealed class MountTopology
{
    public const string CurrentFormat = "MountHotplug.MountTopology/1";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // Hand-written topologies (ConvertTo-Json of a hashtable) spell the names as PowerShell shows them.
        PropertyNameCaseInsensitive = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    [JsonInclude]
    public string Format { get; internal init; } = CurrentFormat;

    /// <summary>The path that was exported, as its namespace saw it.</summary>
    [JsonInclude]
    public string Root { get; internal init; } = "/";

    [JsonInclude]
    public IReadOnlyList<TopologyMount> Mounts { get; internal init; } = Array.Empty<TopologyMount>();

    /// <summary>
    /// The mounts of <paramref name="table"/> at or below <paramref name="path"/> (a mount point or any directory), in the
    /// table's order (creation order for listmount). A mount whose parent is not among them is at the top of the topology.
    /// </summary>
    public static MountTopology Export(IReadOnlyList<MountEntry> table, string path)
    {
        string root = NormalizeRoot(path);
        var selected = table.Where(m => SetGroupDiagnosis.IsSubdirectory(m.MountPoint, root)).ToList();
        var ids = new Dictionary<int, int>();
        foreach (MountEntry entry in selected)
        {
            ids[entry.OldMountId] = ids.Count + 1;
        }

        var superblocks = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = new Dictionary<ulong, int>();
        int? Group(ulong kernelGroup)
        {
            if (kernelGroup == 0)
            {
                return null;
            }

            if (!groups.TryGetValue(kernelGroup, out int label))
            {
                groups[kernelGroup] = label = groups.Count + 1;
            }

            return label;
        }

        var mounts = new List<TopologyMount>(selected.Count);
        foreach (MountEntry entry in selected)
        {
            if (!superblocks.TryGetValue(entry.Device, out int superblock))
            {
                superblocks[entry.Device] = superblock = superblocks.Count + 1;
            }

            mounts.Add(new TopologyMount
            {
                Id = ids[entry.OldMountId],
                Parent = ids.TryGetValue(entry.OldParentId, out int parent) && entry.OldParentId != entry.OldMountId ? parent : null,
                Path = Relative(entry.MountPoint, root),
                FileSystemType = entry.FileSystemType,
                Source = entry.Source,
                Root = entry.Root,
                Superblock = superblock,
                Device = entry.Device,
                Options = entry.Options,
                SuperOptions = entry.SuperOptions,
                PeerGroup = Group(entry.PeerGroup),
                Master = Group(entry.Master),
                Unbindable = (entry.Propagation & PropagationState.Unbindable) != 0,
            });
        }

        return new MountTopology { Root = root, Mounts = mounts };
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a topology written by <see cref="ToJson"/>; PowerShell also converts a JSON string to a topology through it.</summary>
    /// <exception cref="FormatException">Not JSON, another format, or a topology that contradicts itself (the message says where).</exception>
    public static MountTopology Parse(string json)
    {
        MountTopology? topology;
        try
        {
            topology = JsonSerializer.Deserialize<MountTopology>(json, Json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The mount topology is not valid JSON: {ex.Message}", ex);
        }

        if (topology is null)
        {
            throw new FormatException("The mount topology is empty.");
        }

        topology.Validate();
        return topology;
    }

    /// <summary>
    /// A canonical text of the layout: one line per mount, sorted by path (and, for mounts stacked on one path, bottom first),
    /// naming its parent, filesystem, source, root, options and, by canonical labels given in that order, its superblock, peer
    /// group and master. Two layouts are structurally equal exactly when their descriptions are equal; kernel ids play no part.
    /// </summary>
    public string Describe()
    {
        var byId = Mounts.ToDictionary(m => m.Id);
        int Stack(TopologyMount m)
        {
            int depth = 0;
            for (TopologyMount? p = m.Parent is { } id ? byId.GetValueOrDefault(id) : null; p is not null && p.Path == m.Path;
                 p = p.Parent is { } next ? byId.GetValueOrDefault(next) : null)
            {
                depth++;
            }

            return depth;
        }

        var ordered = Mounts.Select(m => (Mount: m, Stack: Stack(m)))
            .OrderBy(x => x.Mount.Path, StringComparer.Ordinal).ThenBy(x => x.Stack).ToList();
        var keys = ordered.ToDictionary(x => x.Mount.Id, x => $"{(x.Mount.Path.Length == 0 ? "." : x.Mount.Path)}#{x.Stack}");
        var superblocks = new Dictionary<int, int>();
        var groups = new Dictionary<int, int>();
        string Label(Dictionary<int, int> labels, int? value, string prefix)
        {
            if (value is not { } v)
            {
                return "-";
            }

            if (!labels.TryGetValue(v, out int label))
            {
                labels[v] = label = labels.Count + 1;
            }

            return prefix + label;
        }

        var text = new StringBuilder();
        foreach (var (m, _) in ordered)
        {
            string parent = m.Parent is { } p && keys.TryGetValue(p, out string? key) ? key : "-";
            text.Append(keys[m.Id]).Append(" parent=").Append(parent)
                .Append(' ').Append(m.FileSystemType).Append(" source=").Append(m.Source).Append(" root=").Append(m.Root)
                .Append(" sb=").Append(Label(superblocks, m.Superblock, "s"))
                .Append(' ').Append(m.Options).Append(" super=").Append(m.SuperOptions)
                .Append(" peer=").Append(Label(groups, m.PeerGroup, "g"))
                .Append(" master=").Append(Label(groups, m.Master, "g"))
                .Append(m.Unbindable ? " unbindable" : string.Empty)
                .Append('\n');
        }

        return text.ToString();
    }

    public bool StructurallyEquals(MountTopology other) => Describe() == other.Describe();

    /// <summary>The peer groups of the topology, each with its members and its master's label.</summary>
    public IReadOnlyList<(int Group, int? Master, IReadOnlyList<TopologyMount> Members)> PeerGroups() =>
        Mounts.Where(m => m.PeerGroup is not null)
            .GroupBy(m => m.PeerGroup!.Value)
            .Select(g => (g.Key, g.First().Master, (IReadOnlyList<TopologyMount>)g.ToList()))
            .ToList();

    /// <summary>
    /// Checks that the topology is one that can be restored without leaving its destination: a known format, unique ids,
    /// relative paths without '.', '..' or empty components, parents that exist and lie above their children, one master per
    /// peer group, no cycles. <see cref="Parse"/> calls it, and so does <see cref="TopologyRestore.Restore"/>, for a topology
    /// made any other way (a typed cast from a hashtable, or built in code).
    /// </summary>
    /// <exception cref="FormatException">The topology contradicts itself; the message says where.</exception>
    public void Validate()
    {
        if (Format != CurrentFormat)
        {
            throw new FormatException($"Unknown mount topology format '{Format}'; this version reads '{CurrentFormat}'.");
        }

        var ids = new HashSet<int>();
        foreach (TopologyMount m in Mounts)
        {
            if (m is null)
            {
                throw new FormatException("The mount topology has an empty entry in 'mounts'.");
            }

            if (!ids.Add(m.Id))
            {
                throw new FormatException($"Mount id {m.Id} appears twice in the topology.");
            }

            if (m.Path.StartsWith('/') || m.Path.Split('/').Any(c => c is ".." or "." || (c.Length == 0 && m.Path.Length > 0)) || m.Path.Contains('\0'))
            {
                throw new FormatException($"Mount {m.Id} has the path '{m.Path}'; a topology path is relative to its root, without '.', '..' or empty components.");
            }

            if (string.IsNullOrEmpty(m.FileSystemType) || string.IsNullOrEmpty(m.Root) || m.Root[0] != '/' || m.Root.Split('/').Contains(".."))
            {
                throw new FormatException($"Mount {m.Id} ('{m.Path}') lacks a filesystem type or has an invalid root '{m.Root}'.");
            }
        }

        var byId = Mounts.ToDictionary(m => m.Id);
        foreach (TopologyMount m in Mounts)
        {
            if (m.Parent is { } parent)
            {
                TopologyMount? p = byId.GetValueOrDefault(parent);
                if (p is null || !(m.Path == p.Path || p.Path.Length == 0 || m.Path.StartsWith(p.Path + "/", StringComparison.Ordinal)))
                {
                    throw new FormatException($"Mount {m.Id} ('{m.Path}') names parent {parent}, which {(p is null ? "does not exist" : $"is at '{p.Path}', not above it")}.");
                }
            }
        }

        foreach (var group in Mounts.Where(m => m.PeerGroup is not null).GroupBy(m => m.PeerGroup))
        {
            if (group.Select(m => m.Master).Distinct().Count() > 1)
            {
                throw new FormatException($"The members of peer group {group.Key} have different masters; all peers of a group share one.");
            }
        }

        // Every chain of parents must end at the top: a cycle would never be attached.
        foreach (TopologyMount m in Mounts)
        {
            var seen = new HashSet<int>();
            for (TopologyMount? p = m; p?.Parent is { } parent; p = byId[parent])
            {
                if (!seen.Add(parent))
                {
                    throw new FormatException($"Mount {m.Id} ('{m.Path}') is its own ancestor.");
                }
            }
        }
    }

    internal static string NormalizeRoot(string path)
    {
        string trimmed = path.TrimEnd('/');
        return trimmed.Length == 0 ? "/" : trimmed;
    }

    private static string Relative(string mountPoint, string root) =>
        root == "/" ? mountPoint.TrimStart('/') : mountPoint == root ? string.Empty : mountPoint[(root.Length + 1)..];
}
