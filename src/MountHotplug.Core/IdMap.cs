using System.Globalization;

namespace MountHotplug;

/// <summary>One line of /proc/PID/uid_map or gid_map: ids Inside..Inside+Count-1 are host ids Outside..Outside+Count-1.</summary>
public readonly record struct IdMapRange(uint Inside, uint Outside, uint Count)
{
    public override string ToString() => $"{Inside} {Outside} {Count}";
}

/// <summary>The uid and gid maps of a user namespace, as its processes' /proc/PID/{uid,gid}_map show them to the host.</summary>
public sealed record IdMaps(IReadOnlyList<IdMapRange> Uid, IReadOnlyList<IdMapRange> Gid)
{
    /// <summary>Parses the text of a uid_map or gid_map file ("0 100000 65536" per line).</summary>
    public static IReadOnlyList<IdMapRange> ParseMap(string text)
    {
        var ranges = new List<IdMapRange>();
        foreach (string line in text.Split('\n'))
        {
            string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0)
            {
                continue;
            }

            if (fields.Length != 3
                || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint inside)
                || !uint.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint outside)
                || !uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint count))
            {
                throw new FormatException($"Not an id map line: '{line.Trim()}'.");
            }

            ranges.Add(new IdMapRange(inside, outside, count));
        }

        return ranges;
    }

    /// <summary>The host id that <paramref name="inside"/> maps to, or null when it is unmapped.</summary>
    public static uint? ToHost(IReadOnlyList<IdMapRange> map, uint inside)
    {
        foreach (IdMapRange r in map)
        {
            if (inside >= r.Inside && (ulong)inside - r.Inside < r.Count)
            {
                return r.Outside + (inside - r.Inside);
            }
        }

        return null;
    }

    /// <summary>The id inside the namespace that host id <paramref name="outside"/> shows as, or null (then it shows as the overflow id, 65534).</summary>
    public static uint? FromHost(IReadOnlyList<IdMapRange> map, uint outside)
    {
        foreach (IdMapRange r in map)
        {
            if (outside >= r.Outside && (ulong)outside - r.Outside < r.Count)
            {
                return r.Inside + (outside - r.Outside);
            }
        }

        return null;
    }

    /// <summary>Whether the map is the initial namespace's identity map of all ids.</summary>
    public static bool IsIdentity(IReadOnlyList<IdMapRange> map) =>
        map.Count == 1 && map[0] is { Inside: 0, Outside: 0, Count: uint.MaxValue };

    /// <summary>The host uid and gid of the namespace's root (id 0 inside), if it has one.</summary>
    public (uint Uid, uint Gid)? RootOnHost =>
        ToHost(Uid, 0) is uint u && ToHost(Gid, 0) is uint g ? (u, g) : null;

    /// <summary>"0 100000 65536", the uid map the way lxc.idmap and uid_map write it, for messages.</summary>
    public string UidText => string.Join(", ", Uid);

    /// <summary>Reads /proc/PID/uid_map and gid_map (the caller proves through a pidfd that PID was still the process).</summary>
    public static IdMaps Read(int pid) =>
        new(ParseMap(File.ReadAllText($"/proc/{pid}/uid_map")), ParseMap(File.ReadAllText($"/proc/{pid}/gid_map")));
}
