using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// Set-MountAttribute and Set-MountGroup on a path inside a container that swaps a parent directory of that path for
/// symlinks while they run. In a chroot container the namespace holds mounts outside the container's root; a canary mount
/// sits where an escaping "../../../t" would lead (beside the rootfs), and a decoy of the container's own at /t, where
/// the links lead when they are followed inside the root (by design, as for Move-MountIntoNamespace). Neither command may
/// ever change the canary, whatever the timing.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SetRaceTests(ITestOutputHelper output)
{
    private const int Rounds = 300;

    [SkippableFact]
    public void SetMountAttributeAndSetMountGroupNeverActOutsideTheContainerWhileItSwapsThePath()
    {
        using var scenario = Scenario.Start(SandboxKind.Chroot);
        var (container, ps) = (scenario.Container, scenario.Session);
        using var shell = new ContainerShell(container);

        // In the container: a shared source, the target /mnt/race/d/t and the decoy /t as private binds of a directory of it.
        shell.RunOrThrow("mkdir -p /mnt/race/src /mnt/race/d/t /t && mount -t tmpfs race /mnt/race/src && mount --make-shared /mnt/race/src"
            + " && mkdir /mnt/race/src/x && mount --bind /mnt/race/src/x /mnt/race/d/t && mount --make-private /mnt/race/d/t"
            + " && mount --bind /mnt/race/src/x /t && mount --make-private /t");

        // Outside the root, in the container's namespace: the canary, a private bind of the same directory.
        string canary = Path.Combine(Path.GetDirectoryName(container.RootfsPath)!, "t");
        Directory.CreateDirectory(canary);
        Sandbox.ExecResult bound = ChildProcess.Run(["nsenter", "-t", container.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "--",
            "sh", "-c", $"mount --bind {container.RootfsPath}/mnt/race/src/x {canary} && mount --make-private {canary}"]);
        Assert.True(bound.ExitCode == 0, bound.StandardError);
        MountInfo canaryBefore = Assert.Single(ContainerView.NamespaceMounts(container), m => m.MountPoint == canary);

        // The attacker: the parent d becomes a link to the root (followed inside it: the decoy) and to ../../../t, which
        // leads to the canary only if resolution escaped the root; then d is put back.
        File.WriteAllText(container.RootfsPath + "/mnt/race/attacker.sh", """
            cd /mnt/race || exit 1
            n=0
            while [ ! -e stop ]; do
              for l in / ../../../t; do mv d d.real && ln -s "$l" d && n=$((n+1)); rm -f d; mv d.real d; done
            done
            echo $n > flips.new && mv flips.new flips
            """);
        container.ExecOrThrow("sh", "-c", "setsid sh /mnt/race/attacker.sh </dev/null >/dev/null 2>&1 &");
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            PipelineResult run = ps.Run("""
                $ct = Get-ContainerNamespace $ctPid
                $tally = @{}
                for ($i = 0; $i -lt $rounds; $i++) {
                    foreach ($step in 'attribute', 'group', 'private') {
                        $Error.Clear()
                        switch ($step) {
                            'attribute' { Set-MountAttribute -Path /mnt/race/d/t -Namespace $ct -NoExec -ErrorAction SilentlyContinue }
                            'group' { Set-MountGroup -Source /mnt/race/src -Target /mnt/race/d/t -SourceNamespace $ct -TargetNamespace $ct -ErrorAction SilentlyContinue }
                            'private' { Set-MountAttribute -Path /mnt/race/d/t -Namespace $ct -Propagation Private -ErrorAction SilentlyContinue }
                        }
                        $key = if ($Error.Count -eq 0) { "$step ok" } else { "$step " + $Error[0].FullyQualifiedErrorId.Split(',')[0] }
                        $tally[$key] = 1 + [int]$tally[$key]
                    }
                }
                $ct.Dispose()
                foreach ($k in $tally.Keys) { '{0}={1}' -f $k, $tally[$k] }
                """, new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["rounds"] = Rounds });
            Assert.True(run.Output.Count > 0, run.Describe());
            foreach (string line in run.Output.Select(o => (string)o.BaseObject))
            {
                string[] kv = line.Split('=');
                outcomes[kv[0]] = int.Parse(kv[1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        finally
        {
            File.WriteAllText(container.RootfsPath + "/mnt/race/stop", string.Empty);
        }

        string flipsFile = container.RootfsPath + "/mnt/race/flips";
        Assert.True(Poll.Until(() => File.Exists(flipsFile), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20)), "the attacker did not stop");
        string flips = File.ReadAllText(flipsFile).Trim();
        output.WriteLine($"{Rounds} rounds against {flips} parent swaps: {string.Join(", ", outcomes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}"))}");

        // Every call ended in success or a refusal of its own; none was a raw failure.
        Assert.Equal(3 * Rounds, outcomes.Values.Sum());
        Assert.All(outcomes.Keys, k => Assert.Matches("^(attribute|group|private) (ok|NotAMountPoint|MountNotFound|InvalidPath|TargetIsSymlink|MountChanged|TargetNotFound|SourceNotFound|SetGroup[A-Za-z]*)$", k));
        Assert.True(int.Parse(flips, System.Globalization.CultureInfo.InvariantCulture) > 0, "the attacker never swapped the parent");
        Assert.True(outcomes.GetValueOrDefault("attribute ok") > 0 && outcomes.GetValueOrDefault("group ok") > 0, "no call succeeded: the race was not live");

        // The canary outside the root is exactly as it was: neither noexec nor in the source's peer group.
        MountInfo canaryAfter = Assert.Single(ContainerView.NamespaceMounts(container), m => m.MountPoint == canary);
        Assert.Equal(canaryBefore.Options, canaryAfter.Options);
        Assert.Equal(canaryBefore.Propagation, canaryAfter.Propagation);
        Assert.Equal(PropagationState.Private, canaryAfter.Propagation);
    }
}
