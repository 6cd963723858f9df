using System.Globalization;
using System.Text;

namespace MountHotplug;

/// <summary>How a process holds a mount: an open file, its working or root directory, its executable, a mapped file.</summary>
public enum HoldKind
{
    OpenFile,
    WorkingDirectory,
    RootDirectory,
    Executable,
    MappedFile,
}

/// <summary>A process that keeps a mount busy, and how.</summary>
/// <param name="ProcessId">The PID as this (the host's) PID namespace numbers it.</param>
/// <param name="NamespaceProcessId">The PID inside the process's own PID namespace, when that differs (a container's).</param>
/// <param name="Command">Its comm name.</param>
/// <param name="Kind">How it holds the mount.</param>
/// <param name="Descriptor">The descriptor number, for an open file.</param>
/// <param name="Path">The path as the process sees it (relative to its own root), when the kernel could name it.</param>
public sealed record MountHolder(int ProcessId, int? NamespaceProcessId, string Command, HoldKind Kind, int? Descriptor, string? Path)
{
    /// <summary>"PID 4242 (sleep, PID 7 in its namespace) has /mnt/data/hello.txt open (fd 0)".</summary>
    public override string ToString()
    {
        string who = NamespaceProcessId is { } inner && inner != ProcessId
            ? $"PID {ProcessId} ({Command}, PID {inner} in its namespace)"
            : $"PID {ProcessId} ({Command})";
        string path = Path ?? "a file on it";
        return Kind switch
        {
            HoldKind.OpenFile => $"{who} has {path} open (fd {Descriptor})",
            HoldKind.WorkingDirectory => $"{who} has its working directory at {path}",
            HoldKind.RootDirectory => $"{who} has its root directory at {path}",
            HoldKind.Executable => $"{who} runs {path}",
            _ => $"{who} has {path} mapped into memory",
        };
    }
}

/// <summary>
/// Finds the processes that hold a mount, by the mount id of each open file, working directory, root directory,
/// executable and mapped file of every process (statx on the /proc magic link, which names the same file the process
/// has). Matching by mount id rather than by path string works across mount namespaces and chroots, and a path inside
/// the container cannot be made to look like another.
/// </summary>
public static class MountHolders
{
    /// <summary>Every holder found, at most <paramref name="limit"/>. Processes that exit meanwhile are skipped.</summary>
    public static IReadOnlyList<MountHolder> Find(ulong mountId, bool uniqueMountId, int limit = 100)
    {
        var holders = new List<MountHolder>();
        IEnumerable<string> processes;
        try
        {
            processes = Directory.EnumerateDirectories("/proc").ToList();
        }
        catch (IOException)
        {
            return holders;
        }

        foreach (string dir in processes)
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            try
            {
                Scan(pid, dir, mountId, uniqueMountId, holders, limit);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process exited while we looked.
            }

            if (holders.Count >= limit)
            {
                break;
            }
        }

        return holders;
    }

    private static void Scan(int pid, string dir, ulong mountId, bool unique, List<MountHolder> holders, int limit)
    {
        var found = new List<(HoldKind Kind, int? Fd, string Link)>();
        foreach (string fd in SafeEntries(System.IO.Path.Combine(dir, "fd")))
        {
            if (Matches(fd, mountId, unique) && int.TryParse(System.IO.Path.GetFileName(fd), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                found.Add((HoldKind.OpenFile, n, fd));
            }
        }

        // Threads that unshared their fs context (CLONE_FS) have a working and root directory of their own.
        var directories = new HashSet<string>(StringComparer.Ordinal);
        foreach (string task in SafeEntries(System.IO.Path.Combine(dir, "task")))
        {
            foreach ((string name, HoldKind kind) in new[] { ("cwd", HoldKind.WorkingDirectory), ("root", HoldKind.RootDirectory) })
            {
                string link = System.IO.Path.Combine(task, name);
                if (Matches(link, mountId, unique) && directories.Add(name + "\0" + ReadLink(link)))
                {
                    found.Add((kind, null, link));
                }
            }
        }

        string exe = System.IO.Path.Combine(dir, "exe");
        if (Matches(exe, mountId, unique))
        {
            found.Add((HoldKind.Executable, null, exe));
        }

        var mapped = new HashSet<string>(StringComparer.Ordinal);
        foreach (string map in SafeEntries(System.IO.Path.Combine(dir, "map_files")))
        {
            if (Matches(map, mountId, unique) && mapped.Add(ReadLink(map) ?? map))
            {
                found.Add((HoldKind.MappedFile, null, map));
            }
        }

        if (found.Count == 0)
        {
            return;
        }

        string command = Sanitize(ReadText(System.IO.Path.Combine(dir, "comm"))?.TrimEnd('\n') ?? "?");
        int? inner = NamespacePid(System.IO.Path.Combine(dir, "status"));
        string? root = ReadLink(System.IO.Path.Combine(dir, "root"));
        foreach ((HoldKind kind, int? fd, string link) in found)
        {
            if (holders.Count >= limit)
            {
                return;
            }

            holders.Add(new MountHolder(pid, inner, command, kind, fd, AsSeenBy(ReadLink(link), root)));
        }
    }

    /// <summary>Whether the file a /proc link names is on the mount (O_PATH open through the magic link, then statx).</summary>
    private static bool Matches(string link, ulong mountId, bool unique)
    {
        using SafePathHandle? handle = MountSyscalls.TryOpenAt2(null, link, OpenFlags.Path, ResolveFlags.None, out _);
        if (handle is null)
        {
            return false;
        }

        try
        {
            return MountSyscalls.Statx(handle, link, unique).MountId == mountId;
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    /// <summary>
    /// The path relative to the holder's own root: the kernel names a file from the reader's root when it can reach it
    /// (a chroot container's files then start with its root directory), so that prefix is cut.
    /// </summary>
    internal static string? AsSeenBy(string? path, string? root)
    {
        if (path is null)
        {
            return null;
        }

        path = Sanitize(path);
        if (root is null || root == "/" || !path.StartsWith(root + "/", StringComparison.Ordinal))
        {
            return path;
        }

        return path[root.Length..];
    }

    /// <summary>Control characters (a file name may hold a newline) are shown as '?', so a message stays one line.</summary>
    internal static string Sanitize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }

        return sb.ToString();
    }

    private static int? NamespacePid(string status)
    {
        string? text = ReadText(status);
        if (text is null)
        {
            return null;
        }

        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith("NSpid:", StringComparison.Ordinal))
            {
                string[] parts = line[6..].Split(new[] { '\t', ' ' }, StringSplitOptions.RemoveEmptyEntries);
                return parts.Length > 0 && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int inner) ? inner : null;
            }
        }

        return null;
    }

    private static IEnumerable<string> SafeEntries(string directory)
    {
        try
        {
            return Directory.GetFileSystemEntries(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
