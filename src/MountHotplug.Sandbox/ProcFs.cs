using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MountHotplug.Sandbox;

/// <summary>The few /proc and libc facts the sandbox lifecycle depends on.</summary>
internal static class ProcFs
{
    internal const int SigKill = 9;
    internal const int SigTerm = 15;

    private const int Esrch = 3;

    /// <summary>
    /// The kernel's start time of a process (clock ticks since boot), which together with the PID names
    /// one process for good: a reused PID gets a later start time. Null when the PID is gone or a zombie.
    /// </summary>
    internal static ulong? LiveStartTime(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // comm, in parentheses, may itself contain spaces and parentheses: fields start after the last ')'.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields[0] is "Z" or "X" or "x")
        {
            return null;
        }

        // fields[0] is field 3 (state) of proc(5); starttime is field 22.
        return ulong.Parse(fields[19], CultureInfo.InvariantCulture);
    }

    /// <summary>The child PIDs of a single-threaded process.</summary>
    internal static IReadOnlyList<int> Children(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }

        return text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture))
            .ToArray();
    }

    internal static string[] CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Whether the process has a handler installed for the signal (SigCgt in /proc/PID/status).</summary>
    internal static bool CatchesSignal(int pid, int signal)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        string? sigCgt = lines.FirstOrDefault(l => l.StartsWith("SigCgt:", StringComparison.Ordinal));
        if (sigCgt is null)
        {
            return false;
        }

        ulong mask = ulong.Parse(sigCgt["SigCgt:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (mask & (1UL << (signal - 1))) != 0;
    }

    /// <summary>Sends a signal; false when the process no longer exists.</summary>
    internal static bool Kill(int pid, int signal)
    {
        if (NativeMethods.kill(pid, signal) == 0)
        {
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == Esrch)
        {
            return false;
        }

        throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {errno}.");
    }

    /// <summary>mkdir(2) with mode 0755: false if the path exists, which Directory.CreateDirectory hides.</summary>
    internal static bool TryCreateDirectory(string path)
    {
        const int eexist = 17;
        if (NativeMethods.mkdir(path, 0x1ED) == 0)
        {
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == eexist)
        {
            return false;
        }

        throw new IOException($"mkdir({path}) failed with errno {errno}.");
    }

    /// <summary>Creates a character device node; false when not permitted (no CAP_MKNOD).</summary>
    internal static bool MakeCharDevice(string path, uint major, uint minor)
    {
        const uint charDevice = 0x2000; // S_IFCHR
        const int eperm = 1;

        // glibc's makedev() for numbers below 256, which is all the fixed memory devices use.
        ulong device = ((ulong)major << 8) | minor;
        if (NativeMethods.mknod(path, charDevice | 0x1B6, device) == 0)
        {
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == eperm)
        {
            return false;
        }

        throw new IOException($"mknod({path}) failed with errno {errno}.");
    }

    /// <summary>
    /// Mount points visible to the calling thread at or below a directory. A recursive delete would
    /// descend into them and destroy whatever is mounted there, e.g. host data bind-mounted by a test.
    /// </summary>
    internal static IReadOnlyList<string> MountsAtOrBelow(string directory)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var found = new List<string>();
        foreach (string line in File.ReadLines("/proc/thread-self/mountinfo"))
        {
            string[] fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            string mountPoint = UnescapeMountInfo(fields[4]);
            if (mountPoint == root || mountPoint.StartsWith(root + "/", StringComparison.Ordinal))
            {
                found.Add(mountPoint);
            }
        }

        return found;
    }

    /// <summary>Deletes a directory tree after making sure no mount lies inside it.</summary>
    internal static void DeleteTree(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return;
        }

        IReadOnlyList<string> mounts = MountsAtOrBelow(directory);
        if (mounts.Count > 0)
        {
            throw new IOException(
                $"Refusing to delete {directory}: something is mounted inside it ({string.Join(", ", mounts)}). " +
                "Unmount it first.");
        }

        // Directory.Delete unlinks symbolic links instead of following them, so a link a test planted
        // inside a rootfs (e.g. to /etc) cannot make it delete host files.
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is ArgumentException or PathTooLongException)
        {
            // .NET's recursive delete builds full paths and fails (ArgumentException, "empty string") once one is
            // longer than PATH_MAX, which a path of 4,095 bytes inside a rootfs is on the host. rm walks the tree with
            // openat; it does not follow links either, and --one-file-system keeps it off anything mounted meanwhile.
            ExecResult rm = ChildProcess.Run([ChildProcess.FindTool("rm"), "-rf", "--one-file-system", "--", directory], TimeSpan.FromMinutes(1), cleanEnvironment: true);
            if (rm.ExitCode != 0 || Directory.Exists(directory))
            {
                throw new IOException($"Could not delete {directory} ({e.Message}); rm -rf exited with {rm.ExitCode}: {rm.StandardError.Trim()}", e);
            }
        }
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    private static string UnescapeMountInfo(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var bytes = new List<byte>(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                bytes.Add((byte)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        internal static extern int kill(int pid, int sig);

        [DllImport("libc", SetLastError = true)]
        internal static extern int mkdir([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

        [DllImport("libc", SetLastError = true)]
        internal static extern int mknod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong dev);
    }
}
