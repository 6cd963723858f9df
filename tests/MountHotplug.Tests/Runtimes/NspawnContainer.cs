using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// A systemd-nspawn container without machined (--register=no): its init is the child of the nspawn process.
/// nspawn mounts a tmpfs on the container's /tmp, so tests plug elsewhere.
/// </summary>
public sealed class NspawnContainer : RuntimeContainer
{
    private readonly string _directory;
    private Process? _nspawn;

    private NspawnContainer(string name, string directory) : base(name) => _directory = directory;

    public override string RootfsPath => Path.Combine(_directory, "rootfs");

    public static NspawnContainer Start(string name)
    {
        RuntimeSupport.Require("/usr/bin/systemd-nspawn", "systemd-container");
        var container = new NspawnContainer(name, Directory.CreateTempSubdirectory("mhp-nspawn-").FullName);
        return Started(container, () =>
        {
            RuntimeSupport.CopyRootfs(container.RootfsPath);
            container._nspawn = ChildProcess.StartDetached([
                "systemd-nspawn", "-D", container.RootfsPath, "-M", name, "--register=no", "--keep-unit", "--private-network", "-q",
                "--console=passive", "/sbin/testinit",
            ], Path.Combine(container._directory, "nspawn.log"));
            return container.WaitForChild();
        });
    }

    public override ExecResult Exec(params string[] argv) =>
        ChildProcess.Run(["nsenter", "-t", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "-u", "-p", "-r", "-w", "--", .. argv]);

    protected override void Stop()
    {
        if (_nspawn is { } nspawn)
        {
            if (Pid != 0 && RuntimeSupport.IsAlive(Pid))
            {
                ChildProcess.Run(["kill", "-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            }

            if (!nspawn.WaitForExit(TimeSpan.FromSeconds(15)))
            {
                nspawn.Kill(entireProcessTree: true);
                nspawn.WaitForExit();
            }

            nspawn.Dispose();
        }

        RuntimeSupport.RemoveTree(Path.Combine("/run/systemd/nspawn/propagate", Name));
        RuntimeSupport.RemoveTree(_directory);
    }

    private int WaitForChild()
    {
        // sh execs setsid, which execs nspawn: the PID stays that of the started process.
        // nspawn's first child sets the container up and is replaced by the init: wait for the init's command line.
        Process nspawn = _nspawn!;
        int init = 0;
        Poll.Until(() => nspawn.HasExited || (init = ProcFs.Children(nspawn.Id).FirstOrDefault(c => ProcFs.CommandLine(c) is [_, "/sbin/testinit", ..])) != 0,
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5));
        if (init != 0)
        {
            return init;
        }

        throw new InvalidOperationException(nspawn.HasExited
            ? $"systemd-nspawn exited with {nspawn.ExitCode}: {File.ReadAllText(Path.Combine(_directory, "nspawn.log"))}"
            : "systemd-nspawn did not start its container's init within 10 s");
    }
}
