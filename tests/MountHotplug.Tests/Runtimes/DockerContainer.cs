using System.Globalization;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

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
