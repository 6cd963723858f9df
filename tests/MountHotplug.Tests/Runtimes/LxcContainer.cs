using System.Globalization;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// An LXC container (privileged, or unprivileged with ids 100000-165535) in an lxcpath, with the busybox rootfs.
/// Removed with rm -rf, never lxc-destroy (containers.md: it deleted a rootfs outside the lxcpath).
/// </summary>
public sealed class LxcContainer : RuntimeContainer
{
    public const string Tool = "/usr/bin/lxc-start";
    public const string Package = "lxc";
    public const uint IdBase = 100000;

    private readonly string _directory;
    private readonly bool _ownsLxcPath;

    private LxcContainer(string lxcPath, string name, bool ownsLxcPath) : base(name)
    {
        LxcPath = lxcPath;
        _directory = Path.Combine(lxcPath, name);
        _ownsLxcPath = ownsLxcPath;
    }

    public string LxcPath { get; }

    public override string RootfsPath => Path.Combine(_directory, "rootfs");

    /// <param name="lxcPath">null: a fresh lxcpath of its own under /tmp, removed afterwards.</param>
    /// <param name="extraConfig">More config lines (hooks).</param>
    public static LxcContainer Start(string? lxcPath, string name, bool unprivileged, string? extraConfig = null)
    {
        RuntimeSupport.Require(Tool, Package);
        bool owns = lxcPath is null;
        if (lxcPath is null)
        {
            // CreateTempSubdirectory makes it 0700: an unprivileged container's root (host 100000) could not reach its rootfs.
            lxcPath = Directory.CreateTempSubdirectory("mhp-lxcpath-").FullName;
            ChildProcess.RunOrThrow(["chmod", "0755", lxcPath]);
        }

        var container = new LxcContainer(lxcPath, name, owns);
        return Started(container, () =>
        {
            container.Create(unprivileged, extraConfig);
            // Output to a file: the daemonized monitor, and hooks, must not hold pipes of this process open.
            string log = Path.Combine(container._directory, "lxc.log");
            ExecResult started = ChildProcess.Run(["sh", "-c", "exec lxc-start -P \"$1\" -n \"$2\" -d -o \"$3\" </dev/null >>\"$3.out\" 2>&1", "mhp-lxc", lxcPath, name, log]);
            if (started.ExitCode != 0)
            {
                throw new InvalidOperationException($"lxc-start {name} failed ({started.ExitCode}): {File.ReadAllText(log + ".out")}\n{File.ReadAllText(log)}");
            }

            return int.Parse(ChildProcess.RunOrThrow(["lxc-info", "-P", lxcPath, "-n", name, "-pH"]).Trim(), CultureInfo.InvariantCulture);
        });
    }

    public override ExecResult Exec(params string[] argv) =>
        ChildProcess.Run(["lxc-attach", "-P", LxcPath, "-n", Name, "--", .. argv]);

    protected override void Stop()
    {
        if (Pid != 0 && RuntimeSupport.IsAlive(Pid))
        {
            ChildProcess.Run(["lxc-stop", "-P", LxcPath, "-n", Name, "-t", "10"], TimeSpan.FromSeconds(30));
            RuntimeSupport.WaitForExit(Pid, TimeSpan.FromSeconds(10));
        }

        RuntimeSupport.RemoveTree(_directory);
        if (_ownsLxcPath)
        {
            RuntimeSupport.RemoveTree(LxcPath);
        }

        RuntimeSupport.RemoveEmptyCgroups("lxc.pivot", $"lxc.payload.{Name}", $"lxc.monitor.{Name}");
    }

    private void Create(bool unprivileged, string? extraConfig)
    {
        Directory.CreateDirectory(_directory);
        RuntimeSupport.CopyRootfs(RootfsPath, unprivileged ? $"{IdBase}:{IdBase}" : null);
        string config = $"""
            lxc.include = /usr/share/lxc/config/common.conf
            {(unprivileged ? $"lxc.include = /usr/share/lxc/config/userns.conf\nlxc.idmap = u 0 {IdBase} 65536\nlxc.idmap = g 0 {IdBase} 65536\n" : string.Empty)}lxc.uts.name = {Name}
            lxc.rootfs.path = dir:{RootfsPath}
            lxc.init.cmd = /sbin/testinit
            lxc.signal.halt = SIGTERM
            lxc.net.0.type = empty
            lxc.apparmor.profile = unconfined
            lxc.tty.max = 0
            lxc.console.path = none
            {extraConfig}
            """;
        File.WriteAllText(Path.Combine(_directory, "config"), config);
        if (unprivileged)
        {
            EnsureSubordinateIds();
        }
    }

    // With the uidmap package installed, LXC maps ids through newuidmap, which wants root's range in /etc/subuid (containers.md).
    private static void EnsureSubordinateIds()
    {
        foreach (string file in new[] { "/etc/subuid", "/etc/subgid" })
        {
            string line = $"root:{IdBase}:65536";
            string text = File.Exists(file) ? File.ReadAllText(file) : string.Empty;
            if (!text.Split('\n').Contains(line))
            {
                File.AppendAllText(file, (text.Length > 0 && !text.EndsWith('\n') ? "\n" : string.Empty) + line + "\n");
            }
        }
    }
}
