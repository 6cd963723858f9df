using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

/// <summary>An LXD container of the busybox image, by the name its user gives it ("p1", or "web:p1" in project web).</summary>
public sealed class LxdContainer : RuntimeContainer
{
    private readonly LxdDaemon _daemon;

    private LxdContainer(LxdDaemon daemon, string project, string name)
        : base(project == "default" ? name : $"{project}:{name}")
    {
        _daemon = daemon;
        Project = project;
        InstanceName = name;
    }

    public string Project { get; }

    /// <summary>The name within its project.</summary>
    public string InstanceName { get; }

    /// <summary>The dir pool keeps each container's rootfs at storage-pools/default/containers/[PROJECT_]NAME/rootfs.</summary>
    public override string RootfsPath => Path.Combine(_daemon.Directory, "storage-pools", "default", "containers", LiblxcName, "rootfs");

    private string LiblxcName => Project == "default" ? InstanceName : $"{Project}_{InstanceName}";

    public static LxdContainer Start(LxdDaemon daemon, string project, string name, bool privileged)
    {
        var container = new LxdContainer(daemon, project, name);
        return Started(container, () => daemon.Launch(project, name, privileged));
    }

    public override ExecResult Exec(params string[] argv) =>
        _daemon.Lxc(new[] { "exec", "--project", Project, InstanceName, "--" }.Concat(argv).ToArray());

    protected override void Stop()
    {
        _daemon.Delete(Project, InstanceName);
        if (Pid != 0)
        {
            RuntimeSupport.WaitForExit(Pid, TimeSpan.FromSeconds(10));
        }

        RuntimeSupport.RemoveEmptyCgroups($"lxc.payload.{LiblxcName}", $"lxc.monitor.{LiblxcName}");
    }
}
