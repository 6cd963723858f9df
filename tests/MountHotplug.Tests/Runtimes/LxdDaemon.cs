using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// An LXD daemon of the tests' own, started by the recipe in containers.md: LXD_DIR and LXD_CONF in a temporary directory,
/// loopback proxies (on every start the daemon fetches "instance types" from the internet, which must never leave this
/// machine), no network at all, a "dir" storage pool, and the busybox rootfs imported as the image "busybox". It runs in
/// the test process's mount namespace (tests/run.sh's private one), because the host's own LXD does: the lookup trusts only
/// a daemon and monitors in the caller's namespaces. Dispose deletes what was launched, stops the daemon with SIGTERM,
/// unmounts whatever it left under its directory and removes the directory, also after a failed test.
/// </summary>
public sealed class LxdDaemon : IDisposable
{
    public const string Daemon = "/usr/bin/lxd";
    public const string Client = "/usr/bin/lxc";
    public const string Package = "lxd";
    public const string Image = "busybox";

    // Nothing listens on port 9 of loopback (discard): every request the daemon makes through a proxy fails at once, here.
    // tools/lxd-preseed.yaml sets the same proxies in the daemon's config.
    private const string Proxy = "http://127.0.0.1:9";

    private readonly string _root;
    private readonly List<(string Project, string Name)> _launched = new();
    private Process? _daemon;

    private LxdDaemon(string root) => _root = root;

    /// <summary>LXD_DIR: the daemon's directory, whose unix.socket the lookup asks.</summary>
    public string Directory => Path.Combine(_root, "lxd");

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["LXD_DIR"] = Directory,
        ["LXD_CONF"] = Path.Combine(_root, "conf"),
        ["https_proxy"] = Proxy,
        ["http_proxy"] = Proxy,
    };

    /// <summary>The daemon's PID (the listener on its socket).</summary>
    public int ProcessId => _daemon?.Id ?? throw new InvalidOperationException("not started");

    public static LxdDaemon Start()
    {
        RuntimeSupport.Require(Daemon, Package);
        var daemon = new LxdDaemon(System.IO.Directory.CreateTempSubdirectory("mhp-lxd-").FullName);
        return RuntimeSupport.Launched(daemon, daemon.Launch);
    }

    public ExecResult Lxc(params string[] argv) => ChildProcess.Run([Client, .. argv], TimeSpan.FromSeconds(120), environment: Environment);

    public string LxcOrThrow(params string[] argv)
    {
        ExecResult r = Lxc(argv);
        return r.ExitCode == 0 ? r.StandardOutput : throw new InvalidOperationException($"lxc {string.Join(' ', argv)} failed ({r.ExitCode}): {r.StandardError}");
    }

    /// <summary>A project that shares the default project's images and profiles, as `lxc project create` offers.</summary>
    public void CreateProject(string project) =>
        LxcOrThrow("project", "create", project, "-c", "features.images=false", "-c", "features.profiles=false");

    /// <summary>Launches the busybox image; returns the init's host PID from the REST API.</summary>
    internal int Launch(string project, string name, bool privileged)
    {
        _launched.Add((project, name));
        var argv = new List<string> { "launch", Image, name, "--project", project };
        if (privileged)
        {
            argv.AddRange(new[] { "-c", "security.privileged=true" });
        }

        LxcOrThrow(argv.ToArray());
        string state = LxcOrThrow("query", $"/1.0/instances/{name}/state?project={project}");
        using JsonDocument doc = JsonDocument.Parse(state);
        return doc.RootElement.GetProperty("pid").GetInt32();
    }

    internal void Delete(string project, string name)
    {
        Lxc("delete", "--force", "--project", project, name);
        _launched.Remove((project, name));
    }

    public void Dispose()
    {
        if (_daemon is { } daemon)
        {
            foreach ((string project, string name) in _launched.ToList())
            {
                Delete(project, name);
            }

            RuntimeSupport.Terminate(daemon);
            _daemon = null;
        }

        // The daemon unmounts its shmounts and devlxd tmpfs on SIGTERM; one it did not (killed) must not outlive the test.
        foreach (string mountPoint in MountPointsUnder(_root).Reverse())
        {
            ChildProcess.Run(["umount", "-l", mountPoint]);
        }

        RuntimeSupport.RemoveTree(_root);
    }

    /// <summary>Mount points in this process's table at or below <paramref name="root"/>, outermost first.</summary>
    public static IReadOnlyList<string> MountPointsUnder(string root) =>
        File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(p => p == root || p.StartsWith(root + "/", StringComparison.Ordinal)).ToList();

    private void Launch()
    {
        System.IO.Directory.CreateDirectory(Directory);
        System.IO.Directory.CreateDirectory(Environment["LXD_CONF"]);
        // The daemon's directory must be reachable by an unprivileged container's root (host 100000), as the recipe says.
        ChildProcess.RunOrThrow(["chmod", "0711", _root, Directory]);
        var stopwatch = Stopwatch.StartNew();
        _daemon = ChildProcess.StartDetached([Daemon, "--group", "root", "--logfile", Path.Combine(Directory, "lxd.log")], Path.Combine(_root, "lxd.out"), Environment);
        ExecResult ready = ChildProcess.Run([Daemon, "waitready", "--timeout=120"], TimeSpan.FromSeconds(130), environment: Environment);
        if (ready.ExitCode != 0)
        {
            throw new InvalidOperationException($"lxd did not come up in {stopwatch.Elapsed.TotalSeconds:0} s: {ready.StandardError}\n{File.ReadAllText(Path.Combine(_root, "lxd.out"))}");
        }

        string preseed = Path.Combine(Mhp.RepositoryRoot, "tools", "lxd-preseed.yaml");
        ExecResult init = ChildProcess.Run(["sh", "-c", "exec \"$1\" init --preseed <\"$2\"", "mhp-lxd", Daemon, preseed], TimeSpan.FromSeconds(120), environment: Environment);
        if (init.ExitCode != 0)
        {
            throw new InvalidOperationException($"lxd init --preseed failed: {init.StandardError}");
        }

        ImportImage();
    }

    // The busybox rootfs with /sbin/init the test init, which also takes SIGPWR (LXD's stop signal): else `lxc stop` waits 30 s.
    private void ImportImage()
    {
        string image = Path.Combine(_root, "image");
        string rootfs = Path.Combine(image, "rootfs");
        System.IO.Directory.CreateDirectory(image);
        RuntimeSupport.CopyRootfs(rootfs);
        string init = Path.Combine(rootfs, "sbin", "init");
        File.Delete(init);
        File.Copy(Path.Combine(rootfs, "sbin", "testinit"), init);
        ChildProcess.RunOrThrow(["chmod", "0755", init]);
        File.WriteAllText(Path.Combine(image, "metadata.yaml"), string.Create(CultureInfo.InvariantCulture,
            $"architecture: x86_64\ncreation_date: {DateTimeOffset.UtcNow.ToUnixTimeSeconds()}\nproperties: {{description: busybox, os: busybox}}\n"));
        string tarball = Path.Combine(_root, "image.tar.gz");
        ChildProcess.RunOrThrow(["tar", "-C", image, "-czf", tarball, "metadata.yaml", "rootfs"]);
        LxcOrThrow("image", "import", tarball, "--alias", Image);
        RuntimeSupport.RemoveTree(image);
        File.Delete(tarball);
    }
}
