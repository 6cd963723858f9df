using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace MountHotplug.Sandbox;

/// <summary>
/// A throwaway container: a private copy of the busybox template rootfs and /sbin/testinit running as
/// PID 1 of new mount, pid and uts namespaces. Needs root. Dispose it: that stops it and deletes its rootfs.
/// </summary>
public sealed partial class SandboxContainer : IDisposable
{
    private const string NamePrefix = "mhp-sbx-";
    private const string InitPath = "/sbin/testinit";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ExecTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(1);

    // Runs in the new namespaces as PID 1, on the host's root, with $1 = rootfs and $2 = name. The bind
    // mount makes the rootfs a mount point, which pivot_root requires; --propagation private keeps it and
    // every later mount out of the host's mount table. After the pivot only the rootfs's own busybox is used.
    private const string PivotRootScript =
        """
        set -e
        mount --bind "$1" "$1"
        cd "$1"
        pivot_root . .oldroot
        exec /bin/busybox sh -c 'set -e
        /bin/busybox umount -l /.oldroot
        /bin/busybox mount -t proc proc /proc
        /bin/busybox hostname "$1"
        exec /sbin/testinit' mhp-sandbox-boot "$2"
        """;

    // Runs in the new namespaces as PID 1, already chroot'ed, with $1 = name.
    private const string ChrootScript =
        """
        set -e
        /bin/busybox mount -t proc proc /proc
        /bin/busybox hostname "$1"
        exec /sbin/testinit
        """;

    // Containers the caller forgot to dispose would otherwise outlive the process.
    private static readonly ConcurrentDictionary<SandboxContainer, byte> Live = new();

    private readonly object _gate = new();
    private readonly string _containerDirectory;
    private readonly ChildProcess.OutputBuffer _launcherOutput = new(64 * 1024);
    private Process? _launcher;
    private Task _launcherPump = Task.CompletedTask;
    private ulong _initStartTime;
    private bool _ready;
    private bool _stopped;
    private bool _disposed;

    static SandboxContainer() => ExitCleanup.Register(DisposeLive);

    private SandboxContainer(SandboxKind kind, string name, string containerDirectory)
    {
        Kind = kind;
        Name = name;
        _containerDirectory = containerDirectory;
        RootfsPath = Path.Combine(containerDirectory, "rootfs");
    }

    /// <summary>The container's name, also its hostname, e.g. "mhp-sbx-1a2b3c".</summary>
    public string Name { get; }

    /// <summary>How the container's root is set up.</summary>
    public SandboxKind Kind { get; }

    /// <summary>Host PID of the container's init (PID 1 inside its pid namespace).</summary>
    public int Pid { get; private set; }

    /// <summary>Host path of the container's private rootfs copy.</summary>
    public string RootfsPath { get; }

    /// <summary>Whether the init has exited (or was stopped); it is never true of a reused PID.</summary>
    public bool HasExited
    {
        get
        {
            lock (_gate)
            {
                return _stopped || !_ready || ProcFs.LiveStartTime(Pid) != _initStartTime;
            }
        }
    }

    /// <summary>Starts a sandbox container and returns once its init handles SIGTERM.</summary>
    /// <param name="kind">pivot_root or chroot.</param>
    /// <param name="name">Container name and hostname: letters, digits, '.', '_', '-', at most 64 characters.
    /// Default: "mhp-sbx-" and 6 random hex digits.</param>
    /// <exception cref="InvalidOperationException">Not root, busybox is unavailable, or the container did
    /// not come up (the message carries the launcher's stderr).</exception>
    public static SandboxContainer Start(SandboxKind kind = SandboxKind.PivotRoot, string? name = null)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown sandbox kind.");
        }

        bool randomName = name is null;
        name ??= RandomName();
        if (!ValidName().IsMatch(name))
        {
            throw new ArgumentException(
                $"Invalid sandbox name '{name}': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
                nameof(name));
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Sandbox containers use Linux namespaces.");
        }

        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException(
                "Sandbox containers need root: they create mount, pid and uts namespaces.");
        }

        string template = Busybox.TemplateRootfs;

        // mkdir is the lock on a name: it fails if another sandbox, in any process, has it.
        string directory = ContainerDirectory(name);
        for (int attempt = 0; !ProcFs.TryCreateDirectory(directory); attempt++)
        {
            if (!randomName || attempt == 10)
            {
                throw new InvalidOperationException(
                    $"{directory} already exists: a sandbox named '{name}' is running or was not disposed. Remove the directory or pick another name.");
            }

            name = RandomName();
            directory = ContainerDirectory(name);
        }

        var container = new SandboxContainer(kind, name, directory);
        try
        {
            container.Launch(template);
        }
        catch
        {
            try
            {
                container.Dispose();
            }
            catch (IOException)
            {
                // Someone mounted into the half-made container directory: leaving it beats deleting through it,
                // and the caller needs the original failure more.
            }

            throw;
        }

        Live[container] = 0;
        return container;
    }

    /// <summary>Runs argv inside the container (nsenter -t Pid -m -u -p -r -w -- argv), stdin on /dev/null.</summary>
    /// <returns>Exit code and output; a non-zero exit code is not an error here.</returns>
    public ExecResult Exec(params string[] argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Length == 0)
        {
            throw new ArgumentException("Nothing to run: argv is empty.", nameof(argv));
        }

        int pid;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            pid = Pid;
        }

        // nsenter -t trusts a bare PID: after the init died the number may belong to an unrelated process.
        if (HasExited)
        {
            throw new InvalidOperationException($"Sandbox {Name} is not running; cannot run {ChildProcess.FormatArgv(argv)}.");
        }

        string[] nsenter =
        [
            ChildProcess.FindTool("nsenter"), "-t", pid.ToString(CultureInfo.InvariantCulture),
            "-m", "-u", "-p", "-r", "-w", "--", .. argv,
        ];
        return ChildProcess.Run(nsenter, ExecTimeout, cleanEnvironment: true);
    }

    /// <summary>Runs argv inside the container and returns its stdout.</summary>
    /// <exception cref="InvalidOperationException">It exited with a non-zero code (message has code and stderr).</exception>
    public string ExecOrThrow(params string[] argv)
    {
        ExecResult result = Exec(argv);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"`{ChildProcess.FormatArgv(argv)}` in sandbox {Name} exited with code {result.ExitCode}: {result.StandardError.Trim()}");
        }

        return result.StandardOutput;
    }

    /// <summary>
    /// Stops the container: SIGTERM to its init, up to 5 s for it to exit, then SIGKILL; reaps the launcher.
    /// Every process of the container's pid namespace dies with its init, and with the last of them the mount
    /// namespace and its mounts. Calling it again does nothing.
    /// </summary>
    public void Stop()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            if (_launcher is { } launcher)
            {
                // Before its trap is installed, PID 1 of a pid namespace drops SIGTERM from outside.
                if (!_ready || !TerminateInit(ProcFs.SigTerm, StopTimeout))
                {
                    TerminateInit(ProcFs.SigKill, KillTimeout);
                }

                // unshare --kill-child: killing the launcher SIGKILLs the init too.
                if (!launcher.WaitForExit(KillTimeout))
                {
                    ChildProcess.KillTree(launcher);
                }

                launcher.WaitForExit();
                launcher.Dispose();
                _launcher = null;
            }

            _stopped = true;
        }
    }

    /// <summary>Stops the container and deletes its rootfs and per-container directory. Safe to call twice.</summary>
    /// <exception cref="IOException">Something is mounted inside the container directory in the caller's mount
    /// namespace; it is left alone rather than deleted through.</exception>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            Stop();
            ProcFs.DeleteTree(_containerDirectory);
            _disposed = true;
        }

        Live.TryRemove(this, out _);
    }

    private static void DisposeLive()
    {
        foreach (SandboxContainer container in Live.Keys)
        {
            try
            {
                container.Dispose();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // Best effort at exit; the others still deserve their cleanup.
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Kind}, PID {Pid})";

    private static string RandomName() =>
        NamePrefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();

    private static string ContainerDirectory(string name) =>
        Path.Combine(Path.GetTempPath(), name.StartsWith(NamePrefix, StringComparison.Ordinal) ? name : NamePrefix + name);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex ValidName();

    private void Launch(string template)
    {
        ExecResult copy = ChildProcess.Run([ChildProcess.FindTool("cp"), "-a", "--", template, RootfsPath], CopyTimeout, cleanEnvironment: true);
        if (copy.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Copying the template rootfs to {RootfsPath} failed with exit code {copy.ExitCode}: {copy.StandardError.Trim()}");
        }

        File.WriteAllText(Path.Combine(RootfsPath, "etc", "hostname"), Name + "\n");

        List<string> argv =
        [
            ChildProcess.FindTool("unshare"), "--mount", "--pid", "--uts", "--fork", "--kill-child", "--propagation", "private",
        ];
        if (Kind == SandboxKind.PivotRoot)
        {
            argv.AddRange(["/bin/sh", "-c", PivotRootScript, "mhp-sandbox-init", RootfsPath, Name]);
        }
        else
        {
            argv.AddRange([ChildProcess.FindTool("chroot"), RootfsPath, "/bin/sh", "-c", ChrootScript, "mhp-sandbox-init", Name]);
        }

        // stdout joins stderr: the init's output is only of interest when it fails to come up.
        Process launcher = Process.Start(ChildProcess.CreateStartInfo(argv, cleanEnvironment: true, stdoutToStderr: true))
            ?? throw new InvalidOperationException($"Could not start {ChildProcess.FormatArgv(argv)}.");
        lock (_gate)
        {
            _launcher = launcher;
        }

        _launcherPump = _launcherOutput.PumpAsync(launcher.StandardError);
        WaitUntilReady(launcher);
    }

    private void WaitUntilReady(Process launcher)
    {
        var stopwatch = Stopwatch.StartNew();
        int init = 0;
        while (true)
        {
            if (init == 0)
            {
                IReadOnlyList<int> children = ProcFs.Children(launcher.Id);
                init = children.Count > 0 ? children[0] : 0;
            }

            // The boot script also mentions /sbin/testinit, but only the exec'ed script has it as argv[1].
            if (init != 0
                && ProcFs.CommandLine(init) is [_, InitPath, ..]
                && ProcFs.CatchesSignal(init, ProcFs.SigTerm)
                && ProcFs.LiveStartTime(init) is { } startTime)
            {
                lock (_gate)
                {
                    Pid = init;
                    _initStartTime = startTime;
                    _ready = true;
                }

                return;
            }

            if (launcher.HasExited)
            {
                launcher.WaitForExit();
                throw new InvalidOperationException(
                    $"Sandbox {Name} ({Kind}) exited with code {launcher.ExitCode} before its init was ready. " +
                    $"Launcher output: {LauncherOutput()}");
            }

            if (stopwatch.Elapsed > ReadyTimeout)
            {
                lock (_gate)
                {
                    // Let Stop SIGKILL it: it never became ready for SIGTERM.
                    Pid = init;
                    _initStartTime = init == 0 ? 0 : ProcFs.LiveStartTime(init) ?? 0;
                }

                throw new InvalidOperationException(
                    $"Sandbox {Name} ({Kind}): init {(init == 0 ? "did not appear" : $"PID {init} did not become {InitPath} with a SIGTERM handler")} " +
                    $"within {ReadyTimeout.TotalSeconds:0} s. Launcher output: {LauncherOutput()}");
            }

            Thread.Sleep(5);
        }
    }

    private string LauncherOutput()
    {
        // What a dying launcher wrote last may still be in the pipe; while it lives, take what has arrived.
        _launcherPump.Wait(TimeSpan.FromMilliseconds(200));
        string text = _launcherOutput.Text.Trim();
        return text.Length == 0 ? "(none)" : text;
    }

    /// <summary>Signals the init if it is still the process we started; true once the launcher has exited.</summary>
    private bool TerminateInit(int signal, TimeSpan timeout)
    {
        Process launcher = _launcher!;
        if (Pid != 0 && _initStartTime != 0 && ProcFs.LiveStartTime(Pid) == _initStartTime)
        {
            ProcFs.Kill(Pid, signal);
        }
        else if (!launcher.HasExited && signal == ProcFs.SigKill)
        {
            // The init is unknown (it never showed up): --kill-child takes it down with the launcher.
            ChildProcess.KillTree(launcher);
        }

        return launcher.WaitForExit(timeout);
    }
}
