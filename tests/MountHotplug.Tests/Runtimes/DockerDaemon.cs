using System.Diagnostics;
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
