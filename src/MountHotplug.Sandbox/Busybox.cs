using System.Diagnostics;
using System.Runtime.Versioning;

namespace MountHotplug.Sandbox;

/// <summary>The busybox-static userland that sandbox root filesystems are made of.</summary>
public static class Busybox
{
    private const string HostBusybox = "/bin/busybox";
    private const string Package = "busybox-static";

    // The init kernel-notes N22 calls for: PID 1 of a pid namespace only receives SIGTERM from
    // outside once it has a handler, and `sleep & wait` lets the trap run at once instead of after a sleep.
    private const string TestInit =
        "#!/bin/sh\n" +
        "trap 'exit 0' TERM INT PWR USR2 HUP\n" +
        "while :; do sleep 1 & wait $!; done\n";

    private const UnixFileMode Mode755 =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode Mode1777 =
        UnixFileMode.StickyBit |
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static readonly string[] RootfsDirectories =
        ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var", "mnt", ".oldroot"];

    private static readonly TimeSpan AptTimeout = TimeSpan.FromMinutes(10);

    private static readonly object InstallGate = new();
    private static readonly object TemplateGate = new();
    private static bool _aptUpdated;
    private static string? _template;
    private static bool _cleanupRegistered;

    /// <summary>
    /// Ensures /bin/busybox (Debian package busybox-static) exists, installing it with apt-get when it is
    /// missing and the process is root. Progress goes to stderr.
    /// </summary>
    /// <returns>The path of the host's busybox binary.</returns>
    /// <exception cref="InvalidOperationException">busybox is missing and could not be installed.</exception>
    public static string EnsureInstalled()
    {
        lock (InstallGate)
        {
            if (File.Exists(HostBusybox))
            {
                return HostBusybox;
            }

            if (!Environment.IsPrivilegedProcess)
            {
                throw new InvalidOperationException(
                    $"{HostBusybox} is missing. Install the Debian package {Package} " +
                    $"(apt-get install --no-install-recommends {Package}) or run as root so it is installed automatically.");
            }

            if (!File.Exists("/usr/bin/apt-get"))
            {
                throw new InvalidOperationException(
                    $"{HostBusybox} is missing and there is no apt-get to install {Package} with; install a static busybox at {HostBusybox}.");
            }

            if (!_aptUpdated)
            {
                RunApt("update");
                _aptUpdated = true;
            }

            // Waiting on dpkg's lock lets parallel test processes install side by side.
            RunApt("-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", Package);

            if (!File.Exists(HostBusybox))
            {
                throw new InvalidOperationException(
                    $"apt-get installed {Package}, but {HostBusybox} still does not exist.");
            }

            return HostBusybox;
        }
    }

    /// <summary>
    /// A template rootfs (busybox applets, /etc/passwd, /etc/group, /sbin/testinit), built once per process
    /// in a fresh temporary directory, which is removed when the process exits. Do not modify it: sandbox
    /// containers each get their own copy.
    /// </summary>
    public static string TemplateRootfs
    {
        get
        {
            // Not Lazy<T>: it would cache a failed build (e.g. apt without network) for the process's lifetime.
            lock (TemplateGate)
            {
                return _template ??= BuildTemplate();
            }
        }
    }

    private static void RunApt(params string[] args)
    {
        string[] argv = ["/usr/bin/apt-get", .. args];
        string shown = ChildProcess.FormatArgv(argv);
        Console.Error.WriteLine($"MountHotplug.Sandbox: {HostBusybox} is missing; running: {shown}");
        var stopwatch = Stopwatch.StartNew();

        // The caller's environment stays: it may carry the proxy settings apt needs.
        var psiArgs = new List<string> { "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive" };
        psiArgs.AddRange(argv);
        ExecResult result = ChildProcess.Run(psiArgs, AptTimeout, cleanEnvironment: false);
        Console.Error.WriteLine(
            $"MountHotplug.Sandbox: {shown} exited with {result.ExitCode} after {stopwatch.Elapsed.TotalSeconds:0.0} s");
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Could not install {Package} for sandbox containers: `{shown}` failed with exit code {result.ExitCode}.\n" +
                Tail(result.StandardError + result.StandardOutput, 40));
        }
    }

    private static string Tail(string text, int lines)
    {
        string[] all = text.TrimEnd().Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static string BuildTemplate()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Sandbox root filesystems are Linux-only.");
        }

        string busybox = EnsureInstalled();
        string root = Directory.CreateTempSubdirectory("mhp-sbx-template-").FullName;
        try
        {
            // CreateTempSubdirectory makes 0700, which cp -a would carry into every container's "/".
            File.SetUnixFileMode(root, Mode755);
            foreach (string dir in RootfsDirectories)
            {
                string path = Path.Combine(root, dir);
                Directory.CreateDirectory(path);
                File.SetUnixFileMode(path, Mode755);
            }

            File.SetUnixFileMode(Path.Combine(root, "tmp"), Mode1777);

            string copy = Path.Combine(root, "bin", "busybox");
            File.Copy(busybox, copy);
            File.SetUnixFileMode(copy, Mode755);

            ExecResult list = ChildProcess.Run([copy, "--list-full"], TimeSpan.FromSeconds(30), cleanEnvironment: true);
            if (list.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"`{copy} --list-full` failed with exit code {list.ExitCode}: {list.StandardError.Trim()}");
            }

            foreach (string applet in list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                // The list comes from a binary on the host; still, a link must not land outside the rootfs.
                if (Path.IsPathRooted(applet) || applet.Split('/').Contains(".."))
                {
                    continue;
                }

                string link = Path.Combine(root, applet);
                if (File.Exists(link) || Directory.Exists(link) || new FileInfo(link).LinkTarget is not null)
                {
                    continue;
                }

                Directory.CreateDirectory(Path.GetDirectoryName(link)!);
                File.CreateSymbolicLink(link, "/bin/busybox");
            }

            CreateDeviceNodes(Path.Combine(root, "dev"));
            File.WriteAllText(Path.Combine(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
            File.WriteAllText(Path.Combine(root, "etc", "group"), "root:x:0:\n");
            string init = Path.Combine(root, "sbin", "testinit");
            File.WriteAllText(init, TestInit);
            File.SetUnixFileMode(init, Mode755);
        }
        catch
        {
            TryDelete(root);
            throw;
        }

        if (!_cleanupRegistered)
        {
            ExitCleanup.Register(DeleteTemplate);
            _cleanupRegistered = true;
        }

        return root;
    }

    /// <summary>
    /// The character devices every shell takes for granted. Without /dev/null, busybox sh cannot start a
    /// background job (it redirects its stdin from /dev/null) and `cmd 2&gt;/dev/null` leaves a regular file.
    /// Made with mknod rather than a tmpfs mount so the container's mount table stays minimal.
    /// </summary>
    [SupportedOSPlatform("linux")]
    private static void CreateDeviceNodes(string dev)
    {
        const UnixFileMode mode666 =
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite |
            UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        foreach ((string name, uint minor) in new[] { ("null", 3u), ("zero", 5u), ("full", 7u), ("random", 8u), ("urandom", 9u) })
        {
            string path = Path.Combine(dev, name);
            if (!ProcFs.MakeCharDevice(path, major: 1, minor))
            {
                // Without CAP_MKNOD (not root): a rootfs without device nodes still works for most tests.
                return;
            }

            File.SetUnixFileMode(path, mode666);
        }
    }

    private static void DeleteTemplate()
    {
        lock (TemplateGate)
        {
            if (_template is { } template)
            {
                // Forgotten first, so a process that survives the signal builds a new one when asked.
                _template = null;
                TryDelete(template);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            ProcFs.DeleteTree(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temporary directory is harmless, a crash at exit is not.
        }
    }
}
