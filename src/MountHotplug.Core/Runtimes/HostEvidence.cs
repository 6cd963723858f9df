using System.Globalization;
using System.Text;

namespace MountHotplug.Runtimes;

/// <summary>
/// Tells evidence a container cannot forge from evidence it can. Any process in any container can take any command line and
/// any comm, and a container's root can make files, FIFOs and symlinks under its rootfs, which the host reaches by path. So a
/// runtime's helper process counts only when it is one of the host's own (<see cref="IsHostHelper"/>), a path taken from a
/// process or a state file only when the host's root owns every step of it outside every container's root
/// (<see cref="IsTrustedDirectory"/>), and a state file only when it is a small regular file the host's root owns, opened
/// without blocking (<see cref="ReadStateFile"/>). docs/reliability.md ("A hostile container and the name lookup") has the
/// attacks these answer.
/// </summary>
internal static class HostEvidence
{
    /// <summary>State files of the runtimes are a few KiB; a larger one is not theirs.</summary>
    internal const int StateFileLimit = 1 << 20;

    private static readonly uint CallerUid = GetEffectiveUid();

    /// <summary>
    /// Whether <paramref name="pid"/> is a helper process of the host itself: in the caller's pid and mount namespaces, with
    /// every uid root's (or the caller's), running one of <paramref name="binaries"/> (the same file: device and inode, so
    /// neither a copy inside a container nor a file of the same name counts). A process in a container fails the namespace
    /// checks whatever it claims.
    /// </summary>
    internal static bool IsHostHelper(int pid, IReadOnlyList<string> binaries, out string why)
    {
        string proc = string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}");
        if (!SameObject($"{proc}/ns/pid", "/proc/self/ns/pid"))
        {
            why = "it runs in another pid namespace (a container's)";
            return false;
        }

        if (!SameObject($"{proc}/ns/mnt", "/proc/self/ns/mnt"))
        {
            why = "it runs in another mount namespace (a container's)";
            return false;
        }

        if (ProcTable.Uids(pid) is not { Count: > 0 } uids || uids.Any(u => u != 0 && u != CallerUid))
        {
            why = "it does not run as root";
            return false;
        }

        if (MountSyscalls.TryStatxPath($"{proc}/exe", uniqueMountId: false, out StatxInfo exe) != 0)
        {
            why = "its executable cannot be read";
            return false;
        }

        // A binary replaced by a package upgrade while the helper runs shows as "PATH (deleted)": still the host's file, as
        // only the host's root can put one there, and the namespace checks above already tell the host's processes apart.
        string? deleted = ProcTable.ExecutableLink(pid) is { } text && text.EndsWith(" (deleted)", StringComparison.Ordinal) ? text[..^10] : null;
        foreach (string binary in binaries)
        {
            if ((MountSyscalls.TryStatxPath(binary, uniqueMountId: false, out StatxInfo known) == 0 && SameFile(exe, known))
                || string.Equals(deleted, binary, StringComparison.Ordinal))
            {
                why = string.Empty;
                return true;
            }
        }

        why = $"its executable is none of {string.Join(", ", binaries)}";
        return false;
    }

    /// <summary>
    /// Whether a directory path taken from a process or a state file can be given to a runtime tool: absolute and plain (no
    /// '.', '..' or empty components), every component a real directory (no symlink) owned by root or the caller and
    /// writable by nobody else (a sticky directory such as /tmp excepted), and none of them the root directory of a process
    /// in a container (a path through a container's rootfs is the container's to change).
    /// </summary>
    internal static bool IsTrustedDirectory(string path, out string why)
    {
        if (TargetPath.TrySplit(path, out string? reason) is not { } components || !path.StartsWith('/'))
        {
            why = $"it is not a plain absolute path ({reason ?? "relative"})";
            return false;
        }

        HashSet<(uint, uint, ulong)> containerRoots = ContainerRoots();
        SafePathHandle? current = MountSyscalls.TryOpen("/", OpenFlags.Path | OpenFlags.Directory, out int errno);
        if (current is null)
        {
            why = $"/ cannot be opened ({ErrnoText.Name(errno)})";
            return false;
        }

        try
        {
            string walked = "/";
            for (int i = 0; ; i++)
            {
                StatxInfo info = MountSyscalls.Statx(current, walked, uniqueMountId: false);
                if (!info.IsDirectory)
                {
                    why = $"'{walked}' is a {info.KindName}, not a directory";
                    return false;
                }

                if (info.Uid != 0 && info.Uid != CallerUid)
                {
                    why = $"'{walked}' belongs to uid {info.Uid}";
                    return false;
                }

                bool sticky = (info.Mode & 0x200) != 0;
                if ((info.Mode & 0x12) != 0 && !sticky)
                {
                    why = $"'{walked}' can be written by other users";
                    return false;
                }

                if (containerRoots.Contains((info.DeviceMajor, info.DeviceMinor, info.Inode)))
                {
                    why = $"'{walked}' is the root directory of a container";
                    return false;
                }

                if (i == components.Count)
                {
                    why = string.Empty;
                    return true;
                }

                SafePathHandle? next = MountSyscalls.TryOpenAt2(current, components[i], OpenFlags.Path | OpenFlags.Directory,
                    ResolveFlags.NoSymlinks | ResolveFlags.NoMagicLinks | ResolveFlags.Beneath, out errno);
                walked = walked == "/" ? "/" + components[i] : walked + "/" + components[i];
                if (next is null)
                {
                    why = $"'{walked}' cannot be opened as a directory without following a symbolic link ({ErrnoText.Name(errno)})";
                    return false;
                }

                current.Dispose();
                current = next;
            }
        }
        finally
        {
            current.Dispose();
        }
    }

    /// <summary>
    /// The text of a runtime's state file, or null when there is none or it is not one the runtime wrote: it must be a regular
    /// file (a FIFO would block the reader, a device would never end), owned by root or the caller, at most
    /// <see cref="StateFileLimit"/> bytes, and not reached through a symbolic link in its last component. Opened non-blocking.
    /// </summary>
    internal static string? ReadStateFile(string path, Action<string>? trace = null)
    {
        using SafePathHandle? file = MountSyscalls.TryOpen(path, OpenFlags.ReadOnly | OpenFlags.NonBlock | OpenFlags.NoFollow, out int errno);
        if (file is null)
        {
            if (errno is not ((int)Errno.ENOENT or (int)Errno.ENOTDIR))
            {
                trace?.Invoke($"{path}: not read ({ErrnoText.Name(errno)})");
            }

            return null;
        }

        StatxInfo info = MountSyscalls.Statx(file, path, uniqueMountId: false);
        if (!info.IsRegularFile || (info.Uid != 0 && info.Uid != CallerUid))
        {
            trace?.Invoke($"{path}: ignored, a {info.KindName} of uid {info.Uid} is no runtime's state");
            return null;
        }

        try
        {
            byte[]? content = MountSyscalls.ReadToEnd(file, StateFileLimit, path);
            if (content is null)
            {
                trace?.Invoke($"{path}: ignored, larger than {StateFileLimit} bytes");
            }

            return content is null ? null : Encoding.UTF8.GetString(content);
        }
        catch (SyscallException ex)
        {
            trace?.Invoke($"{path}: not read ({ex.Message})");
            return null;
        }
    }

    /// <summary>Device and inode of every root directory other than the caller's that a process has (containers, chroots).</summary>
    internal static HashSet<(uint, uint, ulong)> ContainerRoots()
    {
        var roots = new HashSet<(uint, uint, ulong)>();
        if (MountSyscalls.TryStatxPath("/proc/self/root", uniqueMountId: false, out StatxInfo own) != 0)
        {
            return roots;
        }

        foreach (int pid in ProcTable.AllPids())
        {
            if (MountSyscalls.TryStatxPath(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/root"), uniqueMountId: false, out StatxInfo root) == 0
                && !SameFile(root, own))
            {
                roots.Add((root.DeviceMajor, root.DeviceMinor, root.Inode));
            }
        }

        return roots;
    }

    private static bool SameObject(string a, string b) =>
        MountSyscalls.TryStatxPath(a, uniqueMountId: false, out StatxInfo x) == 0
        && MountSyscalls.TryStatxPath(b, uniqueMountId: false, out StatxInfo y) == 0
        && SameFile(x, y);

    private static bool SameFile(StatxInfo a, StatxInfo b) =>
        a.Inode == b.Inode && a.DeviceMajor == b.DeviceMajor && a.DeviceMinor == b.DeviceMinor;

    private static uint GetEffectiveUid() =>
        MountSyscalls.TryStatxPath("/proc/self", uniqueMountId: false, out StatxInfo self) == 0 ? self.Uid : 0;
}
