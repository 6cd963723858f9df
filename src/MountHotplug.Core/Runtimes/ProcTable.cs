using System.Globalization;

namespace MountHotplug.Runtimes;

/// <summary>The few facts about processes that the resolvers read from /proc.</summary>
internal static class ProcTable
{
    /// <summary>Start time of a live process in clock ticks since boot (proc(5) field 22); null when it is gone or a zombie.</summary>
    internal static ulong? StartTime(int pid) => Stat(pid) is { } f && f.Length > 19 && f[0] is not ("Z" or "X" or "x")
        ? ulong.Parse(f[19], CultureInfo.InvariantCulture)
        : null;

    internal static int? ParentPid(int pid) => Stat(pid) is { } f && f.Length > 1 ? int.Parse(f[1], CultureInfo.InvariantCulture) : null;

    /// <summary>The children of every thread of <paramref name="pid"/>.</summary>
    internal static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (string task in Directory.GetDirectories($"/proc/{pid}/task"))
            {
                string text = File.ReadAllText(Path.Combine(task, "children"));
                children.AddRange(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone while we looked.
        }

        return children;
    }

    internal static string[] CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    /// <summary>The kernel's name of the executable (comm), or null when the process is gone.</summary>
    internal static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Real, effective, saved and filesystem uid (/proc/PID/status "Uid:"); empty when the process is gone.</summary>
    internal static IReadOnlyList<uint> Uids(int pid)
    {
        string? line;
        try
        {
            line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<uint>();
        }

        var uids = new List<uint>();
        foreach (string field in line?[4..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries) ?? Array.Empty<string>())
        {
            if (!uint.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out uint uid))
            {
                return Array.Empty<uint>();
            }

            uids.Add(uid);
        }

        return uids;
    }

    /// <summary>What /proc/PID/exe points to ("PATH", or "PATH (deleted)"), or null when the process is gone.</summary>
    internal static string? ExecutableLink(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static IEnumerable<int> AllPids()
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                yield return pid;
            }
        }
    }

    // Fields from field 3 (state) on: comm, in parentheses, may itself hold spaces and parentheses.
    private static string[]? Stat(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
