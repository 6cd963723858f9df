using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Move-MountIntoNamespace -Replace: MOVE_MOUNT_BENEATH, then the old top detached, under a reader that never stops.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class ReplaceTests
{
    private const string Move = "MountHotplug.MoveMountIntoNamespaceCommand";
    private const int Generations = 100;

    // Reads /srv/app/data.txt ("genN") in a tight loop of shell builtins (no fork per read) until /tmp/stop exists.
    // Each pass also lists the directory (the glob), so an empty directory is seen as such. Writes one line per
    // problem to /tmp/reader.log, the generation it last saw to /tmp/reader.gen, and a summary at the end.
    private const string Reader =
        """
        n=0; last=0; switches=0; problems=0
        : > /tmp/reader.log
        while [ ! -e /tmp/stop ]; do
          n=$((n+1))
          v=
          if ! { read -r v < /srv/app/data.txt; } 2>/dev/null; then
            problems=$((problems+1)); echo "FAIL read failed at $n" >> /tmp/reader.log; continue
          fi
          set -- /srv/app/*
          if [ "$1" != /srv/app/data.txt ]; then
            problems=$((problems+1)); echo "EMPTY directory listing '$*' at $n" >> /tmp/reader.log
          fi
          case "$v" in
            gen[0-9]*) g=${v#gen} ;;
            *) problems=$((problems+1)); echo "BAD content '$v' at $n" >> /tmp/reader.log; continue ;;
          esac
          if [ "$g" -lt "$last" ]; then problems=$((problems+1)); echo "BACK gen$g after gen$last at $n" >> /tmp/reader.log; fi
          if [ "$g" -ne "$last" ]; then switches=$((switches+1)); last=$g; echo "$g" > /tmp/reader.gen; fi
        done
        echo "done reads=$n switches=$switches last=$last problems=$problems" >> /tmp/reader.log
        """;

    // Waits (in the PowerShell session) until the reader has seen generation $k: each swap then happens while the
    // reader is known to be reading, and every generation is seen. The deadline only guards against a hang.
    private const string WaitForReader = @"
function Wait-Reader([int] $k) {
    if (-not [MountHotplug.Tests.Infrastructure.Poll]::Until({ [System.IO.File]::ReadAllText($genFile).Trim() -eq ""$k"" }, [TimeSpan]::FromSeconds(30), [TimeSpan]::FromMilliseconds(1))) {
        throw ""the reader never saw gen$k""
    }
}
";

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void ReplaceSwapsUnderAReaderThatNeverFailsNorSeesAnEmptyDirectory(SandboxKind kind)
    {
        using var scenario = Scenario.Start(kind);
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        List<string> dirs = MakeGenerations(tree);
        var vars = new Dictionary<string, object?>
        {
            ["ctPid"] = container.Pid, ["first"] = dirs[0], ["dirs"] = dirs.Skip(1).ToArray(), ["genFile"] = GenFile(container),
        };
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount $first -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -CreateTarget", vars).Errors);
        StartReader(container);

        var swaps = Stopwatch.StartNew();
        PipelineResult result = ps.Run(WaitForReader + @"
Wait-Reader 1
$k = 2
foreach ($d in $dirs) {
    New-StagedMount $d -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -Replace -PassThru
    Wait-Reader $k
    $k++
}
$ct.Dispose()", vars);
        swaps.Stop();
        (string log, string summary) = StopReader(container);

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(Generations - 1, result.Output.Count);
        Assert.All(result.Output.Select(o => (StagedMount)o.BaseObject), m => Assert.NotNull(m.ReplacedMountId));

        // The reader saw every generation, in order, and in all its reads it never failed, never saw an empty
        // directory or another file, and never went back a generation.
        Assert.True(log.Length == 0, $"the reader saw problems:\n{log}\n{summary}");
        Dictionary<string, long> counts = ParseSummary(summary);
        Assert.Equal(0, counts["problems"]);
        Assert.Equal(Generations, counts["switches"]);
        Assert.Equal(Generations, counts["last"]);

        // Only the newest mount is left at the path: each old top was detached, not stacked on.
        Assert.Equal(1, ContainerView.CountAt(container, "/srv/app"));
        Assert.Equal($"gen{Generations}\n", container.ExecOrThrow("cat", "/srv/app/data.txt"));
        Assert.True(ContainerView.MountAt(container, "/srv/app")!.IsReadOnly);
        Console.WriteLine($"-Replace ({kind}): {Generations - 1} swaps in {swaps.ElapsedMilliseconds} ms under a reader: {summary}");
    }

    // The control for the test above: the same reader does notice a swap that is not atomic (unmount, then mount).
    [SkippableFact]
    public void TheReaderNoticesASwapThatIsNotAtomic()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        List<string> dirs = MakeGenerations(tree);
        string logFile = Path.Combine(container.RootfsPath, "tmp", "reader.log");
        var vars = new Dictionary<string, object?>
        {
            ["ctPid"] = container.Pid, ["first"] = dirs[0], ["second"] = dirs[1], ["genFile"] = GenFile(container), ["logFile"] = logFile,
        };
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount $first | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -CreateTarget", vars).Errors);
        StartReader(container);

        PipelineResult result = ps.Run(WaitForReader + @"
Wait-Reader 1
Remove-Mount -Path /srv/app -Namespace $ct -Lazy 3>$null
if (-not [MountHotplug.Tests.Infrastructure.Poll]::Until({ [System.IO.File]::ReadAllText($logFile).Contains('FAIL') }, [TimeSpan]::FromSeconds(30), [TimeSpan]::FromMilliseconds(1))) {
    throw 'the reader never noticed the empty directory'
}
New-StagedMount $second | Move-MountIntoNamespace -Namespace $ct -Target /srv/app
Wait-Reader 2
$ct.Dispose()", vars);
        (string log, string summary) = StopReader(container);

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Contains("FAIL read failed", log);
        Assert.True(ParseSummary(summary)["problems"] > 0, summary);
        Console.WriteLine($"Unmount-then-mount control: {summary}");
    }

    [SkippableFact]
    public void FileMountsAreReplacedToo()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        string second = Path.Combine(tree.Root, "second.conf");
        File.WriteAllText(second, "key=second\n");

        PipelineResult result = ps.Run(@"
$ct = Get-ContainerNamespace $ctPid
New-StagedMount $file | Move-MountIntoNamespace -Namespace $ct -Target /etc/app.conf -CreateTarget
New-StagedMount $second | Move-MountIntoNamespace -Namespace $ct -Target /etc/app.conf -Replace -Verbose
$ct.Dispose()", new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["file"] = tree.SingleFile, ["second"] = second });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal("key=second\n", container.ExecOrThrow("cat", "/etc/app.conf"));
        Assert.Equal(1, ContainerView.CountAt(container, "/etc/app.conf"));
        string verbose = string.Join("\n", result.Verbose.Select(v => v.Message));
        Assert.Contains("MOVE_MOUNT_BENEATH) = 0", verbose);
        Assert.Contains("MNT_DETACH|UMOUNT_NOFOLLOW) = 0 (old top mount", verbose);
    }

    public static TheoryData<string, string, string> RefusalCases => new()
    {
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt -Replace", $"ReplaceTargetNotMounted,{Move}", "not a mount point" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/missing -Replace", $"TargetNotFound,{Move}", "does not exist" },
        { "New-StagedMount $file | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -Replace", $"TargetTypeMismatch,{Move}", "Cannot mount a file" },
        { "New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target / -Replace", $"InvalidTarget,{Move}", "root directory" },
    };

    [SkippableTheory]
    [MemberData(nameof(RefusalCases))]
    public void RefusedReplacesChangeNothing(string script, string expectedId, string expectedText)
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data, ["file"] = tree.SingleFile };
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -CreateTarget", vars).Errors);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result = ps.Run(script, vars);

        var error = Assert.Single(result.Errors);
        Assert.Equal(expectedId, error.FullyQualifiedErrorId);
        Assert.Contains(expectedText, error.ErrorDetails!.Message);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.False(Path.Exists(Path.Combine(container.RootfsPath, "mnt", "missing")));
        ps.Run("$ct.Dispose()");
    }

    [SkippableFact]
    public void WithoutMoveMountBeneathReplaceStopsAndNeverStacks()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };
        Assert.Empty(ps.Run("$ct = Get-ContainerNamespace $ctPid; New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -CreateTarget", vars).Errors);
        string before = File.ReadAllText($"/proc/{container.Pid}/mountinfo");

        PipelineResult result;
        using (KernelFeatures.OverrideForTesting(KernelFeature.MoveMountBeneath, supported: false))
        {
            result = ps.Run("$m = New-StagedMount $src; $m | Move-MountIntoNamespace -Namespace $ct -Target /srv/app -Replace", vars);
        }

        var error = Assert.Single(result.Errors);
        Assert.Equal($"KernelTooOld,{Move}", error.FullyQualifiedErrorId);
        string message = error.ErrorDetails!.Message;
        Assert.Contains("Move-MountIntoNamespace -Replace needs move_mount(MOVE_MOUNT_BENEATH), which came with Linux 6.5", message);
        Assert.Contains("never falls back to stacking", message + " " + error.ErrorDetails.RecommendedAction);
        Assert.Equal(before, File.ReadAllText($"/proc/{container.Pid}/mountinfo"));
        Assert.Equal("Staged", ps.Run("$m.State; $m.Dispose(); $ct.Dispose()").Output.First().BaseObject);
    }

    private static List<string> MakeGenerations(TempTree tree)
    {
        var dirs = new List<string>();
        for (int g = 1; g <= Generations; g++)
        {
            string dir = Path.Combine(tree.Root, $"gen{g}");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "data.txt"), $"gen{g}\n");
            dirs.Add(dir);
        }

        return dirs;
    }

    private static string GenFile(SandboxContainer container) => Path.Combine(container.RootfsPath, "tmp", "reader.gen");

    private static void StartReader(SandboxContainer container)
    {
        string tmp = Path.Combine(container.RootfsPath, "tmp");
        File.WriteAllText(Path.Combine(tmp, "reader.gen"), "0\n");
        File.WriteAllText(Path.Combine(tmp, "reader.sh"), Reader.Replace("\r", string.Empty) + "\n");
        container.ExecOrThrow("sh", "-c", "sh /tmp/reader.sh > /dev/null 2>&1 &");
    }

    /// <summary>Stops the reader; returns its problem lines and its summary line.</summary>
    private static (string Problems, string Summary) StopReader(SandboxContainer container)
    {
        string tmp = Path.Combine(container.RootfsPath, "tmp");
        File.WriteAllText(Path.Combine(tmp, "stop"), string.Empty);
        string[] lines = [];
        Assert.True(Poll.Until(() => (lines = File.ReadAllLines(Path.Combine(tmp, "reader.log"))) is [.., var last] && last.StartsWith("done ", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10)), "the reader did not stop: " + string.Join("\n", lines));
        return (string.Join("\n", lines[..^1]), lines[^1]);
    }

    private static Dictionary<string, long> ParseSummary(string summary) =>
        summary.Split(' ').Skip(1).Select(p => p.Split('=')).ToDictionary(p => p[0], p => long.Parse(p[1]));
}
