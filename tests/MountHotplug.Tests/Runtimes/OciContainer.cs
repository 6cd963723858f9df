using System.Text.Json;
using System.Text.Json.Nodes;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

/// <summary>A runc or crun container from an OCI bundle with the busybox rootfs (`crun spec`, edited).</summary>
public sealed class OciContainer : RuntimeContainer
{
    private readonly string _runtime;
    private readonly string _bundle;

    private OciContainer(string runtime, string name, string bundle) : base(name)
    {
        _runtime = runtime;
        _bundle = bundle;
    }

    public override string RootfsPath => Path.Combine(_bundle, "rootfs");

    /// <param name="runtime">"runc" or "crun".</param>
    public static OciContainer Start(string runtime, string name)
    {
        RuntimeSupport.Require($"/usr/bin/{runtime}", runtime);
        RuntimeSupport.Require("/usr/bin/crun", "crun"); // writes the spec for both
        string bundle = Directory.CreateTempSubdirectory($"mhp-{runtime}-").FullName;
        var container = new OciContainer(runtime, name, bundle);
        return Started(container, () =>
        {
            RuntimeSupport.CopyRootfs(container.RootfsPath);
            WriteSpec(bundle);
            string log = Path.Combine(bundle, "run.log");
            string[] run = runtime == "crun"
                // crun refuses the hybrid cgroup layout: start it with the cgroup2 mount hidden, in a namespace of its own.
                ? new[] { "unshare", "-m", "--propagation", "private", "sh", "-c",
                    "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; exec crun run -d --bundle \"$1\" \"$2\" </dev/null >\"$3\" 2>&1",
                    "mhp-crun", bundle, name, log }
                : new[] { "sh", "-c", "exec runc run -d --bundle \"$1\" \"$2\" </dev/null >\"$3\" 2>&1", "mhp-runc", bundle, name, log };
            ExecResult started = ChildProcess.Run(run);
            if (started.ExitCode != 0)
            {
                throw new InvalidOperationException($"{runtime} run {name} failed ({started.ExitCode}): {File.ReadAllText(log)}");
            }

            using JsonDocument state = JsonDocument.Parse(ChildProcess.RunOrThrow([runtime, "state", name]));
            return state.RootElement.GetProperty("pid").GetInt32();
        });
    }

    public override ExecResult Exec(params string[] argv) => ChildProcess.Run([_runtime, "exec", Name, .. argv]);

    protected override void Stop()
    {
        ChildProcess.Run([_runtime, "delete", "-f", Name], TimeSpan.FromSeconds(30));
        if (Pid != 0)
        {
            RuntimeSupport.WaitForExit(Pid, TimeSpan.FromSeconds(10));
        }

        RuntimeSupport.RemoveTree(_bundle);
        RuntimeSupport.RemoveEmptyCgroups(Name);
    }

    private static void WriteSpec(string bundle)
    {
        string path = Path.Combine(bundle, "config.json");
        ChildProcess.RunOrThrow(["sh", "-c", "cd \"$1\" && crun spec", "mhp-spec", bundle]);
        JsonNode spec = JsonNode.Parse(File.ReadAllText(path))!;
        spec["process"]!["terminal"] = false;
        spec["process"]!["args"] = new JsonArray("/sbin/testinit");
        spec["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = false };
        File.WriteAllText(path, spec.ToJsonString());
    }
}
