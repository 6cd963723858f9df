using System.Globalization;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

/// <summary>A podman container (with runc) from the busybox rootfs (--rootfs: no image store needed).</summary>
public sealed class PodmanContainer : RuntimeContainer
{
    // containers.md: ulimits within this VM's hard limit, no network, runc, no systemd or journald. Its state lives in
    // the fixture's directory, with the vfs driver: overlay's driver bind-mounts its home in the mount namespace of
    // whichever podman command touches it first (this process's), and a later cleanup call does it asynchronously.
    private string ContainersConf => $"""
        [containers]
        default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
        netns = "none"
        [engine]
        runtime = "runc"
        cgroup_manager = "cgroupfs"
        events_logger = "file"
        tmp_dir = "{Path.Combine(_directory, "tmp")}"

        """;

    private string StorageConf => $"""
        [storage]
        driver = "vfs"
        graphroot = "{Path.Combine(_directory, "storage")}"
        runroot = "{Path.Combine(_directory, "run")}"

        """;

    private readonly string _directory;
    private int _conmonPid;

    private PodmanContainer(string name, string directory) : base(name) => _directory = directory;

    public override string RootfsPath => Path.Combine(_directory, "rootfs");

    /// <summary>CONTAINERS_CONF for podman run and exec, also the variable Get-ContainerNamespace's podman calls see.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["CONTAINERS_CONF"] = Path.Combine(_directory, "containers.conf"),
        ["CONTAINERS_STORAGE_CONF"] = Path.Combine(_directory, "storage.conf"),
    };

    public static PodmanContainer Start(string name)
    {
        RuntimeSupport.Require("/usr/bin/podman", "podman");
        var container = new PodmanContainer(name, Directory.CreateTempSubdirectory("mhp-podman-").FullName);
        return Started(container, () =>
        {
            RuntimeSupport.CopyRootfs(container.RootfsPath);
            File.WriteAllText(container.Environment["CONTAINERS_CONF"], container.ContainersConf);
            File.WriteAllText(container.Environment["CONTAINERS_STORAGE_CONF"], container.StorageConf);
            ChildProcess.RunOrThrow(["podman", "run", "-d", "--name", name, "--rootfs", container.RootfsPath, "/sbin/testinit"], environment: container.Environment);
            string[] pids = ChildProcess.RunOrThrow(["podman", "inspect", "-f", "{{.State.Pid}} {{.State.ConmonPid}}", name], environment: container.Environment)
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            container._conmonPid = int.Parse(pids[1], CultureInfo.InvariantCulture);
            return int.Parse(pids[0], CultureInfo.InvariantCulture);
        });
    }

    public override ExecResult Exec(params string[] argv) =>
        ChildProcess.Run(["podman", "exec", Name, .. argv], environment: Environment);

    protected override void Stop()
    {
        ChildProcess.Run(["podman", "rm", "-f", "-t", "5", Name], TimeSpan.FromSeconds(60), environment: Environment);
        if (Pid != 0)
        {
            RuntimeSupport.WaitForExit(Pid, TimeSpan.FromSeconds(10));
        }

        // conmon runs `podman container cleanup` after the container exits, and sits in libpod_parent/conmon until then.
        if (_conmonPid != 0)
        {
            RuntimeSupport.WaitForExit(_conmonPid, TimeSpan.FromSeconds(15));
        }

        RuntimeSupport.RemoveTree(_directory);
        RuntimeSupport.RemoveEmptyCgroups("libpod_parent");
    }
}
