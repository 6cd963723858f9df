using System.Globalization;
using System.Text;

namespace MountHotplug;

/// <summary>How a mount takes part in propagation, as /proc/PID/mountinfo shows it.</summary>
[Flags]
public enum PropagationState
{
    Private = 0,
    Shared = 1,
    Slave = 2,
    Unbindable = 4,
}

/// <summary>One row of /proc/PID/mountinfo: a mount as the namespace of PID sees it.</summary>
public sealed record MountInfo(
    int MountId,
    int ParentId,
    uint DeviceMajor,
    uint DeviceMinor,
    string Root,
    string MountPoint,
    string Options,
    PropagationState Propagation,
    int PeerGroup,
    int Master,
    int PropagateFrom,
    string FileSystemType,
    string Source,
    string SuperOptions)
{
    public bool IsReadOnly => Options.Split(',').Contains("ro");

    /// <summary>"shared:12 master:3", as in mountinfo; "private" when neither.</summary>
    public string PropagationText =>
        FormatPropagation((ulong)PeerGroup, (ulong)Master, (ulong)PropagateFrom, (Propagation & PropagationState.Unbindable) != 0);

    /// <summary>The optional fields of a mountinfo row: "shared:12 master:3 propagate_from:2 unbindable", or "private".</summary>
    public static string FormatPropagation(ulong peerGroup, ulong master, ulong propagateFrom, bool unbindable)
    {
        var parts = new List<string>();
        if (peerGroup != 0) parts.Add($"shared:{peerGroup}");
        if (master != 0) parts.Add($"master:{master}");
        if (propagateFrom != 0) parts.Add($"propagate_from:{propagateFrom}");
        if (unbindable) parts.Add("unbindable");
        return parts.Count == 0 ? "private" : string.Join(' ', parts);
    }

    public override string ToString() => $"{MountPoint} ({FileSystemType} {Source}, {Options}, {PropagationText})";
}

/// <summary>Parses /proc/PID/mountinfo (Documentation/filesystems/proc.rst, 3.5).</summary>
public static class MountInfoParser
{
    /// <summary>Parses one line; null for a line that is not a mountinfo row.</summary>
    public static MountInfo? ParseLine(string line)
    {
        string[] fields = line.Split(' ');
        if (fields.Length < 10)
        {
            return null;
        }

        int separator = Array.IndexOf(fields, "-", 6);
        if (separator < 0 || fields.Length < separator + 4)
        {
            return null;
        }

        if (!int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int id)
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int parent))
        {
            return null;
        }

        string[] device = fields[2].Split(':');
        if (device.Length != 2
            || !uint.TryParse(device[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint major)
            || !uint.TryParse(device[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint minor))
        {
            return null;
        }

        var propagation = PropagationState.Private;
        int peerGroup = 0, master = 0, propagateFrom = 0;
        for (int i = 6; i < separator; i++)
        {
            string tag = fields[i];
            if (tag.StartsWith("shared:", StringComparison.Ordinal))
            {
                propagation |= PropagationState.Shared;
                peerGroup = ParseTagValue(tag);
            }
            else if (tag.StartsWith("master:", StringComparison.Ordinal))
            {
                propagation |= PropagationState.Slave;
                master = ParseTagValue(tag);
            }
            else if (tag.StartsWith("propagate_from:", StringComparison.Ordinal))
            {
                propagateFrom = ParseTagValue(tag);
            }
            else if (tag == "unbindable")
            {
                propagation |= PropagationState.Unbindable;
            }
        }

        return new MountInfo(id, parent, major, minor, Unescape(fields[3]), Unescape(fields[4]), fields[5], propagation,
            peerGroup, master, propagateFrom, Unescape(fields[separator + 1]), Unescape(fields[separator + 2]), fields[separator + 3]);
    }

    public static IReadOnlyList<MountInfo> Parse(string text)
    {
        var rows = new List<MountInfo>();
        foreach (string line in text.Split('\n'))
        {
            if (ParseLine(line) is { } row)
            {
                rows.Add(row);
            }
        }

        return rows;
    }

    /// <summary>The mount table of a process (null: the calling thread's) as that process sees it.</summary>
    public static IReadOnlyList<MountInfo> Read(int? pid = null) =>
        Parse(File.ReadAllText(pid is null ? "/proc/thread-self/mountinfo" : $"/proc/{pid}/mountinfo"));

    /// <summary>The kernel escapes space, tab, newline and backslash as \ooo octal.</summary>
    public static string Unescape(string field)
    {
        if (!field.Contains('\\'))
        {
            return field;
        }

        var bytes = new List<byte>(field.Length);
        byte[] raw = Encoding.UTF8.GetBytes(field);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == (byte)'\\' && i + 3 < raw.Length && IsOctal(raw[i + 1]) && IsOctal(raw[i + 2]) && IsOctal(raw[i + 3]))
            {
                bytes.Add((byte)(((raw[i + 1] - '0') << 6) | ((raw[i + 2] - '0') << 3) | (raw[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.Add(raw[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(byte b) => b is >= (byte)'0' and <= (byte)'7';

    private static int ParseTagValue(string tag) =>
        int.TryParse(tag.AsSpan(tag.IndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : 0;
}
