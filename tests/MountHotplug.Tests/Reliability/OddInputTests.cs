using System.Diagnostics;
using System.Management.Automation;
using System.Text;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// Generated target paths (long, dot segments, slashes, unicode, NUL, control characters, components of 255/256 bytes,
/// paths of 4095/4096 bytes …), odd process ids and objects reused after Dispose: each gives an error or lands exactly
/// where the path names, never an escape, a crash or a leaked descriptor. The seed is fixed (MHP_SEED overrides it)
/// and printed with every failure.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class OddInputTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 8_2026;
    private const int InputsPerKind = 300;
    private const string Move = "MountHotplug.MoveMountIntoNamespaceCommand";
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static int Seed => int.TryParse(Environment.GetEnvironmentVariable("MHP_SEED"), out int seed) ? seed : DefaultSeed;

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void GeneratedTargetsLandExactlyWhereTheyNameOrAreRefused(SandboxKind kind)
    {
        using var scenario = Scenario.Start(kind);
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        int seed = Seed;
        output.WriteLine($"seed {seed} (set MHP_SEED to replay another)");
        var random = new Random(seed);
        var inputs = Enumerable.Range(0, InputsPerKind).Select(i => Generate(random, i)).ToList();
        using var unplugger = new Unplugger(container);
        unplugger.Shell.RunOrThrow("mkdir -p /mnt/odd");
        string hostBefore = ContainerView.HostListings(container);
        var baseline = ContainerView.NamespaceMounts(container).Select(m => m.MountId).ToHashSet();
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>();
        var stopwatch = Stopwatch.StartNew();
        foreach (var batch in inputs.Select((target, i) => (target, i)).Chunk(25))
        {
            PipelineResult result = ps.Run("foreach ($t in $targets) { ,@(New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target $t -CreateTarget -PassThru 2>&1) }",
                new Dictionary<string, object?> { ["targets"] = batch.Select(b => b.target).ToArray(), ["src"] = tree.Data });
            if (result.Errors.Count > 0 || result.Output.Count != batch.Length)
            {
                failures.Add($"seed {seed}, inputs #{batch[0].i}..#{batch[^1].i}: {result.Describe()}");
                break;
            }

            var fresh = ContainerView.NamespaceMounts(container).Where(m => !baseline.Contains(m.MountId)).ToList();
            var unplug = new List<string>();
            for (int k = 0; k < batch.Length; k++)
            {
                (string target, int i) = batch[k];
                string shown = $"seed {seed}, input #{i} {Show(target)}";
                Expectation expected = Expect(target);
                object[] outcome = ((object[])result.Output[k].BaseObject).Select(o => o is PSObject p ? p.BaseObject : o).ToArray();
                if (outcome is not [var single])
                {
                    failures.Add($"{shown}: {outcome.Length} outcomes");
                    continue;
                }

                switch (single)
                {
                    case StagedMount staged when expected.Outcome != Outcome.Refused:
                        outcomes["attached"] = outcomes.GetValueOrDefault("attached") + 1;
                        string where = ContainerView.NamespacePath(container, expected.Normalized!);
                        if (staged.GetState() != StagedMountState.Attached || staged.Target != expected.Normalized)
                        {
                            failures.Add($"{shown}: attached as {Show(staged.Target ?? "?")}, expected {Show(expected.Normalized!)}");
                        }
                        else if (fresh.RemoveAll(m => m.MountPoint == where) != 1)
                        {
                            failures.Add($"{shown}: reported attached, but no mount at {Show(where)}");
                        }
                        else
                        {
                            unplug.Add(expected.Normalized!);
                        }

                        break;
                    case ErrorRecord error when expected.Outcome != Outcome.Attached:
                        string id = error.FullyQualifiedErrorId;
                        outcomes[id.Split(',')[0]] = outcomes.GetValueOrDefault(id.Split(',')[0]) + 1;
                        if (id != $"InvalidTarget,{Move}" || error.Exception is not HotplugException || error.CategoryInfo.Category != ErrorCategory.InvalidArgument
                            || string.IsNullOrWhiteSpace(error.ErrorDetails?.Message))
                        {
                            failures.Add($"{shown}: {id} ({error.CategoryInfo.Category}, {error.Exception.GetType().Name}): {error.ErrorDetails?.Message ?? error.Exception.Message}");
                        }

                        break;
                    default:
                        failures.Add($"{shown}: expected {expected.Outcome} ({expected.Why}), got {Describe(single)}");
                        break;
                }
            }

            failures.AddRange(fresh.Select(m => $"seed {seed}, inputs #{batch[0].i}..#{batch[^1].i}: a mount landed at {Show(m.MountPoint)}"));
            unplugger.Unplug(unplug);
            if (failures.Count > 0)
            {
                break;
            }
        }

        stopwatch.Stop();
        ps.Run("$ct.Dispose()");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.Equal(baseline.Order(), ContainerView.NamespaceMounts(container).Select(m => m.MountId).Order());

        // Refused inputs created nothing: under /mnt/odd there are only the directories of attached targets.
        var made = Directory.GetDirectories(container.RootfsPath + "/mnt/odd").Select(d => "/mnt/odd/" + Path.GetFileName(d)).ToHashSet();
        var used = inputs.Select(Expect).Where(e => e.Outcome != Outcome.Refused && e.Normalized!.StartsWith("/mnt/odd/", StringComparison.Ordinal))
            .Select(e => "/mnt/odd/" + e.Normalized!.Split('/')[3]).ToHashSet();
        Assert.True(made.IsSubsetOf(used), $"seed {seed}: left behind: {string.Join(", ", made.Except(used).Select(Show))}");
        Assert.Equal(hostBefore, ContainerView.HostListings(container));
        output.WriteLine($"{kind}: {inputs.Count} generated targets in {stopwatch.Elapsed.TotalSeconds:0.0} s: "
            + string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.Value}")) + "; no escape, no stray mount, nothing left");
    }

    [Fact]
    public void TheOracleAgreesWithTheKernelLimits()
    {
        // Pure logic: what the generator's oracle expects at the boundaries it is built around.
        Assert.Equal(Outcome.Attached, Expect("/a/" + new string('x', 255)).Outcome);
        Assert.Equal(Outcome.Refused, Expect("/a/" + new string('x', 256)).Outcome);
        Assert.Equal(Outcome.Attached, Expect("/a/" + string.Concat(Enumerable.Repeat("€", 85))).Outcome);
        Assert.Equal(Outcome.Refused, Expect("/a/" + string.Concat(Enumerable.Repeat("€", 85)) + "x").Outcome);
        Assert.Equal(Outcome.Attached, Expect("/" + string.Join('/', Enumerable.Repeat(new string('y', 254), 16)) + "/" + new string('z', 4095 - 16 * 255 - 1)).Outcome);
        Assert.Equal(Outcome.Refused, Expect("/a\0b").Outcome);
        Assert.Equal(Outcome.Refused, Expect("/a/\ud800").Outcome);
        Assert.Equal(Outcome.Refused, Expect("/a/../b").Outcome);
        Assert.Equal(("/a/b", Outcome.Attached), (Expect("//a/./b///").Normalized, Expect("//a/./b///").Outcome));
        Assert.Equal(Outcome.Either, Expect("/a" + new string('/', 4100) + "b").Outcome);
    }

    [SkippableFact]
    public void HostPathsNoFileNameCanHoldAreRefusedNotReplaced()
    {
        // "x\ud800" has no UTF-8 form; encoded leniently it became "x\ufffd", another directory, which was cloned.
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        Directory.CreateDirectory(Path.Combine(tree.Root, "x\ufffd"));

        PipelineResult result = ps.Run("""
            New-StagedMount ($root + "/x" + [char]0xD800)
            New-StagedMount ($root + "/x" + [char]0)
            Set-MountGroup -Source ($root + "/x" + [char]0xD800) -Target /
            Set-MountGroup -Source / -Target ($root + [char]0 + "x")
            """, new Dictionary<string, object?> { ["root"] = tree.Root });

        Assert.Empty(result.Output);
        Assert.Equal(["InvalidPath,MountHotplug.NewStagedMountCommand", "InvalidPath,MountHotplug.NewStagedMountCommand",
            "InvalidPath,MountHotplug.SetMountGroupCommand", "InvalidPath,MountHotplug.SetMountGroupCommand"], result.ErrorIds);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category));
        Assert.Contains("lone surrogate (U+D800)", result.Errors[0].ErrorDetails!.Message);
    }

    [SkippableFact]
    public void ObjectsReusedAfterDisposeGiveErrorsNotCrashes()
    {
        using var scenario = Scenario.Start();
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        int before = ContainerView.Mounts(container).Count;
        var vars = new Dictionary<string, object?> { ["ctPid"] = container.Pid, ["src"] = tree.Data };

        // A disposed namespace, given again: a terminating error for Move-MountIntoNamespace, an item error for Set-MountGroup.
        PipelineResult disposedNamespace = ps.Run("""
            $gone = Get-ContainerNamespace $ctPid; $gone.Dispose(); $gone.Dispose()
            $gone.IsAlive
            New-StagedMount $src | Move-MountIntoNamespace -Namespace $gone -Target /mnt/a -CreateTarget
            Set-MountGroup -Source / -Target /proc -TargetNamespace $gone
            """, vars);
        Assert.Equal(false, Assert.Single(disposedNamespace.Output).BaseObject);
        Assert.Equal([$"NamespaceDisposed,{Move}", "NamespaceDisposed,MountHotplug.SetMountGroupCommand"], disposedNamespace.ErrorIds);

        // A disposed staged mount and an attached one, given again.
        PipelineResult disposedMount = ps.Run("""
            $ct = Get-ContainerNamespace $ctPid
            $m = New-StagedMount $src; $m.Dispose(); $m.Dispose()
            $m | Move-MountIntoNamespace -Namespace $ct -Target /mnt/b -CreateTarget
            Set-MountGroup -Source $m -Target /proc -TargetNamespace $ct
            $a = New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target /mnt/c -CreateTarget -PassThru
            $a | Move-MountIntoNamespace -Namespace $ct -Target /mnt/d -CreateTarget
            Set-MountGroup -Source $a -Target /proc -TargetNamespace $ct
            $a.Dispose(); $a.State
            """, vars);
        Assert.Equal("Attached", Assert.Single(disposedMount.Output).BaseObject);
        Assert.Equal([$"MountNotStaged,{Move}", "SourceNotFound,MountHotplug.SetMountGroupCommand", $"MountNotStaged,{Move}", "SourceNotFound,MountHotplug.SetMountGroupCommand"],
            disposedMount.ErrorIds);

        // The namespace disposed while a pipeline still uses it: the items after it get an error, not an exception.
        PipelineResult midway = ps.Run("""
            $n = 0
            1..4 | ForEach-Object { New-StagedMount $src } | ForEach-Object { if (++$n -eq 3) { $ct.Dispose() }; $_ } |
                Move-MountIntoNamespace -Namespace $ct -Target /mnt/e -CreateTarget -Force -PassThru
            """, vars);
        Assert.Equal(2, midway.Output.Count);
        Assert.Equal([$"NamespaceDisposed,{Move}", $"NamespaceDisposed,{Move}"], midway.ErrorIds);
        Assert.All(midway.Errors, e => Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category));

        Assert.Equal(before + 3, ContainerView.Mounts(container).Count); // /mnt/c and twice /mnt/e
        foreach (string absent in new[] { "a", "b", "d" })
        {
            Assert.False(Path.Exists(container.RootfsPath + "/mnt/" + absent), absent);
        }
    }

    [SkippableFact]
    public void OddProcessIdsGiveErrorsAndAProcessWithoutIdMappingsIsHandled()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);

        // A zombie (exited, not reaped), a thread id that is not a process, numbers out of range.
        using Process zombieParent = ChildProcess.Start(["sh", "-c", "sleep 0 & exec sleep 600"]);
        int zombie = WaitForChild(zombieParent.Id, state: 'Z');
        int thread = ProcessState.ThreadMountNamespaces().Keys.First(t => t != Environment.ProcessId);
        PipelineResult odd = ps.Run($$"""
            foreach ($p in {{zombie}}, {{thread}}, 2147483647, 0, -1) {
                try { $n = Get-ContainerNamespace -ProcessId $p -ErrorAction Stop; "$p pinned, alive $($n.IsAlive)"; $n.Dispose() }
                catch { "$p $($_.FullyQualifiedErrorId) $($_.CategoryInfo.Category)" + $(if ($_.ErrorDetails.Message -match 'is a thread of process \d+') { " $($Matches[0])" }) }
            }
            """);
        zombieParent.Kill();
        zombieParent.WaitForExit();
        Assert.True(odd.Errors.Count == 0, odd.Describe());
        var lines = odd.Output.Select(o => o.ToString()).ToList();
        Assert.Equal(5, lines.Count);
        Assert.Equal($"{zombie} ProcessNotFound,MountHotplug.GetContainerNamespaceCommand ObjectNotFound", lines[0]);
        Assert.Matches($"^{thread} PidfdOpenFailed,MountHotplug.GetContainerNamespaceCommand (ObjectNotFound|InvalidArgument) is a thread of process {Environment.ProcessId}$", lines[1]);
        Assert.Equal(
        [
            "2147483647 ProcessNotFound,MountHotplug.GetContainerNamespaceCommand ObjectNotFound",
            "0 ParameterArgumentValidationError,MountHotplug.GetContainerNamespaceCommand InvalidData",
            "-1 ParameterArgumentValidationError,MountHotplug.GetContainerNamespaceCommand InvalidData",
        ], lines.Skip(2));

        // A process in a user namespace of its own that maps no ids at all: its files and ours show as nobody inside.
        using Process unmapped = ChildProcess.Start(["unshare", "--user", "--mount", "--propagation", "private", "sleep", "600"]);
        WaitUntil(() => File.ReadAllText($"/proc/{unmapped.Id}/comm").Trim() == "sleep");
        Assert.Equal(string.Empty, File.ReadAllText($"/proc/{unmapped.Id}/uid_map"));
        string target = "/tmp/mhp-unmapped-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            PipelineResult result = ps.Run("""
                $u = Get-ContainerNamespace $uPid
                $u.HasOwnUserNamespace
                New-StagedMount $src -ReadOnly | Move-MountIntoNamespace -Namespace $u -Target $t -CreateTarget -PassThru | ForEach-Object { $_.State }
                $u.Dispose()
                """, new Dictionary<string, object?> { ["uPid"] = unmapped.Id, ["src"] = tree.Data, ["t"] = target });
            Assert.True(result.Errors.Count == 0, result.Describe());
            Assert.Equal([true, "Attached"], result.Output.Select(o => o.BaseObject));
            Assert.Contains(result.Warnings, w => w.Message.Contains("own user namespace", StringComparison.Ordinal));

            // It landed in that process's namespace (whose root is the host's /), not in ours.
            Assert.Contains(MountInfoParser.Read(unmapped.Id), m => m.MountPoint == target && m.IsReadOnly);
            Assert.DoesNotContain(MountInfoParser.Read(), m => m.MountPoint == target);
        }
        finally
        {
            unmapped.Kill();
            unmapped.WaitForExit();
            Directory.Delete(target);
        }
    }

    private enum Outcome { Attached, Refused, Either }

    private sealed record Expectation(Outcome Outcome, string? Normalized, string Why);

    /// <summary>
    /// What should happen to a target, from the rules alone (written apart from TargetPath, so that it can disagree):
    /// an absolute path without NUL, "..", broken UTF-16, components over 255 bytes or more than 4095 bytes once
    /// empty and "." segments are dropped is attached there; anything else is refused as InvalidTarget. A path whose
    /// raw text is longer than 4095 bytes may be refused before it is shortened.
    /// </summary>
    private static Expectation Expect(string target)
    {
        if (target.Contains('\0'))
        {
            return new(Outcome.Refused, null, "NUL");
        }

        if (!target.StartsWith('/'))
        {
            return new(Outcome.Refused, null, "relative");
        }

        if (!IsWellFormed(target))
        {
            return new(Outcome.Refused, null, "broken UTF-16");
        }

        string[] segments = target.Split('/');
        if (segments.Contains(".."))
        {
            return new(Outcome.Refused, null, "..");
        }

        var components = segments.Where(s => s.Length > 0 && s != ".").ToList();
        if (components.Count == 0)
        {
            return new(Outcome.Refused, null, "the root");
        }

        if (components.Any(c => Encoding.UTF8.GetByteCount(c) > 255))
        {
            return new(Outcome.Refused, null, "component over 255 bytes");
        }

        string normalized = "/" + string.Join('/', components);
        if (Encoding.UTF8.GetByteCount(normalized) > 4095)
        {
            return new(Outcome.Refused, null, "over 4095 bytes");
        }

        return Encoding.UTF8.GetByteCount(target) > 4095
            ? new(Outcome.Either, normalized, "over 4095 bytes before shortening")
            : new(Outcome.Attached, normalized, "valid");
    }

    private static bool IsWellFormed(string text)
    {
        try
        {
            StrictUtf8.GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    private static readonly string[] Unicode =
    [
        "é", "ß", "Ω", "Ж", "中文", "日本語", "한국어", "😀", "👩‍👩‍👧", "e\u0301", "\u200b", "\ufeff", "\u202e", "עברית", "العربية", "\u00a0", "\ufffd", "𝕏", "\u0085", "\u2028",
    ];

    private static readonly char[] ControlCharacters = ['\x01', '\a', '\b', '\t', '\n', '\r', '\x1b', '\x7f', '\x1f', '\x9b'];

    private static readonly string[] Odd =
    [
        " ", "  lead", "trail ", "*", "?", "[a]", "$x", "$(whoami)", "`n", "'", "\"", ";", "&", "|", "<", ">", "(", ")", "{", "}", "-rf", "--", "~", "\\", "a\\b", "%", "#", ":", ",",
    ];

    /// <summary>One generated target; the kind rotates with <paramref name="i"/>, the details come from the random source.</summary>
    private static string Generate(Random r, int i)
    {
        string prefix = $"/mnt/odd/{i}";
        string Name(int maxLength) => new(Enumerable.Range(0, r.Next(1, maxLength + 1)).Select(_ => (char)r.Next('a', 'z' + 1)).ToArray());
        string Pick(string[] from) => from[r.Next(from.Length)];
        switch (i % 12)
        {
            case 0: // long: many components of up to 255 bytes, up to about 4.2 KB in all
            {
                var sb = new StringBuilder(prefix);
                int length = r.Next(200, 4300);
                while (sb.Length < length)
                {
                    sb.Append('/').Append(Name(r.Next(2) == 0 ? 255 : 40));
                }

                return sb.ToString();
            }

            case 1: // dot segments
                return prefix + string.Concat(Enumerable.Range(0, r.Next(1, 6)).Select(_ => "/" + Pick([".", "..", "...", ".hidden", "..x", "x..", ".", Name(5)])));
            case 2: // repeated and trailing slashes
                return string.Concat(Enumerable.Range(0, r.Next(1, 4)).Select(_ => "/")) + prefix[1..].Replace("/", new string('/', r.Next(1, 4)))
                    + "/" + Name(8) + new string('/', r.Next(0, 4));
            case 3: // unicode
                return prefix + "/" + string.Concat(Enumerable.Range(0, r.Next(1, 5)).Select(_ => Pick(Unicode) + (r.Next(2) == 0 ? Name(3) : "")));
            case 4: // broken UTF-16: a lone surrogate
                return prefix + "/" + Name(4) + (char)r.Next(0xD800, 0xE000) + Name(4);
            case 5: // embedded NUL
            {
                string path = prefix + "/" + Name(10) + "/" + Name(10);
                int at = r.Next(1, path.Length);
                return path[..at] + "\0" + path[at..];
            }

            case 6: // control characters
                return prefix + "/" + Name(4) + ControlCharacters[r.Next(ControlCharacters.Length)] + Name(4);
            case 7: // a component of exactly 255 or 256 bytes, in 1-, 2-, 3- or 4-byte characters
            {
                string unit = Pick(["x", "é", "€", "😀"]);
                int unitBytes = Encoding.UTF8.GetByteCount(unit);
                int bytes = r.Next(2) == 0 ? 255 : 256;
                string component = string.Concat(Enumerable.Repeat(unit, bytes / unitBytes)) + new string('x', bytes % unitBytes);
                return prefix + "/" + component;
            }

            case 8: // a whole path of exactly 4095 or 4096 bytes
            {
                int total = r.Next(2) == 0 ? 4095 : 4096;
                var sb = new StringBuilder(prefix);
                while (total - sb.Length > 256)
                {
                    sb.Append('/').Append(new string('p', 254));
                }

                sb.Append('/').Append(new string('q', total - sb.Length - 1));
                return sb.ToString();
            }

            case 9: // not absolute, or nothing but the root
                return Pick(["", " ", ".", "./x", "mnt/odd/rel", "~/x", "\\mnt\\odd", "/", "//", "/.", "/./.", "/..", "/mnt/..", "\t/x"]);
            case 10: // characters shells and PowerShell treat specially
                return prefix + "/" + Pick(Odd) + Name(3) + Pick(Odd);
            default: // a mixture
                return prefix + string.Concat(Enumerable.Range(0, r.Next(1, 5)).Select(_ => "/" + Pick([Pick(Unicode), Pick(Odd), ".", Name(20), "x\ty", "a\nb"])))
                    + (r.Next(3) == 0 ? "/" : "");
        }
    }

    private static string Show(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text.Length > 120 ? text[..60] + "…" + text[^40..] : text)
        {
            sb.Append(c < 0x20 || c == 0x7f || char.IsSurrogate(c) || c is '\u0085' or '\u2028' or '\u202e' ? $"\\u{(int)c:x4}" : c.ToString());
        }

        return sb.Append($"\" ({Encoding.UTF8.GetByteCount(text)} bytes)").ToString();
    }

    private static string Describe(object outcome) => outcome switch
    {
        ErrorRecord e => $"{e.FullyQualifiedErrorId}: {e.ErrorDetails?.Message ?? e.Exception.Message}",
        StagedMount m => $"attached at {Show(m.Target ?? "?")}",
        _ => outcome.ToString() ?? "null",
    };

    private static int WaitForChild(int parent, char state)
    {
        int found = 0;
        WaitUntil(() =>
        {
            foreach (int child in ProcFs.Children(parent))
            {
                string stat = File.ReadAllText($"/proc/{child}/stat");
                if (stat[stat.LastIndexOf(')') + 2] == state)
                {
                    found = child;
                    return true;
                }
            }

            return false;
        });
        return found;
    }

    private static void WaitUntil(Func<bool> condition)
    {
        if (!Poll.Until(condition, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(2)))
        {
            throw new TimeoutException("condition not met in 30 s");
        }
    }
}
