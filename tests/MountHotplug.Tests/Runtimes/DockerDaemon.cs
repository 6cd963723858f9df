using System.Diagnostics;
using System.Globalization;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// A dockerd of the tests' own (containers.md: no init starts one here): its data, exec root and socket in a temporary
/// directory, no iptables, no bridge, and its own mount namespace, so the mounts it makes never enter the test process's
/// table. Stopped with SIGTERM, which makes it remove what it mounted; the busybox rootfs is imported as bbtest:latest.
/// </summary>
public sealed class DockerDaemon : IDisposable
{
    public const string Client = "/usr/bin/docker";
    public const string Image = "mhp-bbtest:latest";

    private readonly string _root;
    private Process? _daemon;

    private DockerDaemon(string root) => _root = root;

    /// <summary>"unix:///tmp/…/docker.sock", for DOCKER_HOST.</summary>
    public string Host => $"unix://{Path.Combine(_root, "docker.sock")}";

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["DOCKER_HOST"] = Host };

    public static DockerDaemon Start()
    {
        RuntimeSupport.Require(Client, "docker.io");
        RuntimeSupport.Require("/usr/sbin/dockerd", "docker.io");
        var daemon = new DockerDaemon(Directory.CreateTempSubdirectory("mhp-dockerd-").FullName);
        return RuntimeSupport.Launched(daemon, daemon.Launch);
    }

    public ExecResult Docker(params string[] argv) => ChildProcess.Run([Client, .. argv], TimeSpan.FromSeconds(60), environment: Environment);

    public void Dispose()
    {
        if (_daemon is { } daemon)
        {
            RuntimeSupport.Terminate(daemon);
            _daemon = null;
        }

        RuntimeSupport.RemoveTree(_root);
        RuntimeSupport.RemoveEmptyCgroups("docker");
    }

    private void Launch()
    {
        _daemon = ChildProcess.StartDetached([
            "unshare", "-m", "--propagation", "private", "--",
            "dockerd", "--data-root", Path.Combine(_root, "data"), "--exec-root", Path.Combine(_root, "exec"),
            "--pidfile", Path.Combine(_root, "dockerd.pid"), "-H", Host,
            "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false",
        ], Path.Combine(_root, "dockerd.log"));
        Process daemon = _daemon;
        bool up = false;
        Poll.Until(() => (up = Docker("version").ExitCode == 0) || daemon.HasExited, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        if (!up)
        {
            throw new InvalidOperationException($"dockerd did not come up: {File.ReadAllText(Path.Combine(_root, "dockerd.log"))}");
        }

        string tar = Path.Combine(_root, "rootfs.tar");
        ChildProcess.RunOrThrow(["tar", "-C", Busybox.TemplateRootfs, "-cf", tar, "."]);
        ExecResult import = Docker("import", tar, Image);
        if (import.ExitCode != 0)
        {
            throw new InvalidOperationException($"docker import failed: {import.StandardError}");
        }

        File.Delete(tar);
    }
}

/// <summary>A docker container of the busybox image, on a <see cref="DockerDaemon"/>.</summary>
public sealed class DockerContainer : RuntimeContainer
{
    private readonly DockerDaemon _daemon;

    private DockerContainer(DockerDaemon daemon, string name) : base(name) => _daemon = daemon;

    public override string RootfsPath => throw new NotSupportedException("docker keeps the rootfs in its own store");

    public static DockerContainer Start(DockerDaemon daemon, string name)
    {
        var container = new DockerContainer(daemon, name);
        return Started(container, () =>
        {
            ExecResult run = daemon.Docker("run", "-d", "--name", name, "--network", "none", DockerDaemon.Image, "/sbin/testinit");
            if (run.ExitCode != 0)
            {
                throw new InvalidOperationException($"docker run failed: {run.StandardError}");
            }

            return int.Parse(daemon.Docker("inspect", "-f", "{{.State.Pid}}", name).StandardOutput.Trim(), CultureInfo.InvariantCulture);
        });
    }

    public override ExecResult Exec(params string[] argv) => _daemon.Docker(new[] { "exec", Name }.Concat(argv).ToArray());

    protected override void Stop()
    {
        _daemon.Docker("rm", "-f", Name);
        if (Pid != 0)
        {
            RuntimeSupport.WaitForExit(Pid, TimeSpan.FromSeconds(10));
        }
    }
}
