using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.InteropServices;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// A hostile container swaps the directories a hot-plug targets for symbolic links (to /, /etc, /proc/self/root and
/// ../../..) while 1,000 hot-plugs per attacker run against them. Every mount must land where the target names inside
/// the container or be refused with a clear error; none may land anywhere else in the container's namespace or on the
/// host, and no directory may be created outside the container's root.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class RaceTests(ITestOutputHelper output)
{
    private const int HotplugsPerAttacker = 1000;
    private static readonly string[] LinkTargets = ["/", "/etc", "/proc/self/root", "../../.."];

    // Move-MountIntoNamespace's per-item refusals that a race can cause; anything else (a raw exception, ContainerExited …) is a failure.
    private static readonly HashSet<string> Refusals =
    [
        "TargetNotFound", "InvalidTarget", "TargetIsSymlink", "TargetTypeMismatch", "TargetIsMountPoint",
        "CreateTargetFailed", "MoveMountFailed", "MoveNotVerified",
    ];

    [SkippableTheory]
    [InlineData(SandboxKind.PivotRoot)]
    [InlineData(SandboxKind.Chroot)]
    public void SymlinkSwapsInsideTheContainerNeverRedirectAHotplug(SandboxKind kind)
    {
        using var scenario = Scenario.Start(kind);
        var (container, ps, tree) = (scenario.Container, scenario.Session, scenario.Tree);
        using var unplugger = new Unplugger(container);
        var arena = new RaceArena(container, unplugger);
        string hostBefore = ContainerView.HostListings(container);
        ps.Run("$ct = Get-ContainerNamespace $ctPid", new Dictionary<string, object?> { ["ctPid"] = container.Pid });

        // 1. The container's own busybox, in a loop, as any process in it could.
        RaceReport busybox;
        var stopwatch = Stopwatch.StartNew();
        using (arena.StartBusyboxAttacker())
        {
            busybox = arena.Run(ps, tree.Data, HotplugsPerAttacker, "busybox loop");
        }

        busybox.Duration = stopwatch.Elapsed;
        busybox.AttackerFlips = arena.BusyboxFlips();

        // 2. The same changes at system-call speed, from a thread inside the container's mount namespace.
        RaceReport fast;
        stopwatch.Restart();
        using (var swapper = new SymlinkSwapper(container.Pid, arena.ExchangeNames, arena.ReplaceNames))
        {
            swapper.Start();
            Assert.Equal(new FileInfo($"/proc/{container.Pid}/ns/mnt").LinkTarget, new FileInfo($"/proc/self/task/{swapper.NativeThreadId}/ns/mnt").LinkTarget);
            fast = arena.Run(ps, tree.Data, HotplugsPerAttacker, "renameat2/symlinkat thread");
            swapper.Stop();
            fast.AttackerFlips = swapper.Flips;
        }

        fast.Duration = stopwatch.Elapsed;
        ps.Run("$ct.Dispose()");

        foreach (RaceReport report in new[] { busybox, fast })
        {
            output.WriteLine($"{kind}: {report}");
            Assert.True(report.Violations.Count == 0, $"{kind}, {report.Attacker}: {string.Join("\n", report.Violations.Take(20))}");
            Assert.Equal(HotplugsPerAttacker, report.Attached + report.Refused);

            // The race was live: the attacker changed the targets while they were used, and both outcomes happened.
            Assert.True(report.AttackerFlips > 0, $"the {report.Attacker} never swapped a target");
            Assert.True(report.Attached > 0, $"no hot-plug succeeded against the {report.Attacker}: {report}");
            Assert.True(report.Refused > 0, $"no hot-plug was refused against the {report.Attacker}: {report}");
        }

        Assert.Equal(hostBefore, ContainerView.HostListings(container));
    }

    /// <summary>The outcome of one attacker's 1,000 hot-plugs.</summary>
    public sealed class RaceReport(string attacker)
    {
        public string Attacker { get; } = attacker;

        public int Attached { get; set; }

        public int Refused => RefusalsById.Values.Sum();

        public Dictionary<string, int> RefusalsById { get; } = new();

        public Dictionary<string, int> AttachedAt { get; } = new();

        public List<string> Violations { get; } = new();

        public long AttackerFlips { get; set; }

        public int Rounds { get; set; }

        public TimeSpan Duration { get; set; }

        public override string ToString() =>
            $"{Attacker}: {Attached + Refused} hot-plugs in {Duration.TotalSeconds:0.0} s ({Rounds} rounds), attacker swaps {AttackerFlips}; "
            + $"attached {Attached} ({string.Join(", ", AttachedAt.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}"))}); "
            + $"refused {Refused} ({string.Join(", ", RefusalsById.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}"))}); "
            + $"violations {Violations.Count}";
    }

    /// <summary>
    /// /mnt/race in the container: t0..t3 are the targets themselves, p0..p3 the parents of targets made with
    /// -CreateTarget, s0..s3 the symlinks the fast attacker exchanges the t's with.
    /// </summary>
    private sealed class RaceArena
    {
        private const string Dir = "/mnt/race";
        private readonly SandboxContainer _container;
        private readonly Unplugger _unplugger;
        private readonly string _canary = "mhp-canary-" + Convert.ToHexString(Guid.NewGuid().ToByteArray()[..4]).ToLowerInvariant();

        public RaceArena(SandboxContainer container, Unplugger unplugger)
        {
            _container = container;
            _unplugger = unplugger;
            string links = string.Join("; ", LinkTargets.Select((l, i) => $"ln -s {ContainerShell.Quote(l)} {Dir}/s{i}"));
            unplugger.Shell.RunOrThrow($"mkdir -p {Dir}/t0 {Dir}/t1 {Dir}/t2 {Dir}/t3 {Dir}/p0 {Dir}/p1 {Dir}/p2 {Dir}/p3; {links}");
        }

        public string[] ExchangeNames { get; } = ["t0", "t1", "t2", "t3"];

        public string[] ReplaceNames { get; } = ["p0", "p1", "p2", "p3"];

        private string HostDir => _container.RootfsPath + Dir;

        public IDisposable StartBusyboxAttacker()
        {
            // rmdir fails on a mount point and on a non-empty directory, as it would for any process in the container:
            // the attacker swaps what is free. Only `[` and `$((…))` are shell builtins; every other step forks.
            File.WriteAllText(HostDir + "/attacker.sh", $$"""
                cd {{Dir}} || exit 1
                n=0
                while [ ! -e stop ]; do
                  for l in {{string.Join(' ', LinkTargets.Select(ContainerShell.Quote))}}; do
                    for d in t0 t1 t2 t3 p0 p1 p2 p3; do rmdir $d 2>/dev/null && ln -s "$l" $d 2>/dev/null && n=$((n+1)); done
                    for d in t0 t1 t2 t3 p0 p1 p2 p3; do if [ -L $d ]; then rm -f $d; fi; [ -e $d ] || mkdir $d 2>/dev/null; done
                  done
                done
                echo $n > count.tmp && mv count.tmp count
                """);
            ExecResult started = _container.Exec("sh", "-c", $"sh {Dir}/attacker.sh </dev/null >/dev/null 2>&1 &");
            Assert.Equal(0, started.ExitCode);
            return new Stopper(() =>
            {
                File.WriteAllText(HostDir + "/stop", string.Empty);
                Poll.Until(() => File.Exists(HostDir + "/count"), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10));
            });
        }

        public long BusyboxFlips()
        {
            long flips = long.Parse(File.ReadAllText(HostDir + "/count").Trim());
            foreach (string file in new[] { "stop", "count", "attacker.sh" })
            {
                File.Delete(HostDir + "/" + file);
            }

            return flips;
        }

        /// <summary>Runs <paramref name="count"/> hot-plugs in rounds of one per slot; checks every outcome against the namespace's mount table.</summary>
        public RaceReport Run(PowerShellSession ps, string source, int count, string attacker)
        {
            var report = new RaceReport(attacker);
            var baseline = ContainerView.NamespaceMounts(_container).Select(m => m.MountId).ToHashSet();
            // A t may also be found under the name of the link it was being exchanged with: a same-directory
            // RENAME_EXCHANGE does not lock the directory it moves, so its mount-point check races with move_mount
            // (seen on 6.18, also in plain C). The mounted directory is the target, renamed by the container within
            // its parent while the mount arrived, which it could not do a moment later (EBUSY). Counted apart.
            string[] renamed = LinkTargets.Select((_, i) => $"{Dir}/s{i}").ToArray();
            var slots = ExchangeNames.Select(t => new Slot($"{Dir}/{t}", [$"{Dir}/{t}", .. renamed], CreatesCanary: false))
                .Concat(ReplaceNames.Select((p, i) => new Slot($"{Dir}/{p}/{_canary}{i}", [$"{Dir}/{p}/{_canary}{i}", $"/{_canary}{i}", $"/etc/{_canary}{i}"], CreatesCanary: true)))
                .ToArray();
            int done = 0;
            while (done < count)
            {
                Slot[] round = slots.Take(count - done).ToArray();
                PipelineResult result = ps.Run("""
                    foreach ($t in $targets) {
                        $r = @(New-StagedMount $src | Move-MountIntoNamespace -Namespace $ct -Target $t -CreateTarget -PassThru 2>&1)
                        if ($r.Count -ne 1) { "expected one outcome for $t, got $($r.Count)" } else { $r[0] }
                    }
                    """, new Dictionary<string, object?> { ["targets"] = round.Select(s => s.Target).ToArray(), ["src"] = source });
                if (result.Errors.Count > 0 || result.Output.Count != round.Length)
                {
                    report.Violations.Add($"round {report.Rounds}: {result.Describe()}");
                    break;
                }

                Check(report, round, result.Output.Select(o => o.BaseObject).ToArray(), baseline);
                done += round.Length;
                report.Rounds++;
            }

            return report;
        }

        private void Check(RaceReport report, Slot[] round, object[] outcomes, HashSet<int> baseline)
        {
            var fresh = ContainerView.NamespaceMounts(_container).Where(m => !baseline.Contains(m.MountId)).ToList();
            var unplug = new List<string>();
            var created = new List<string>();
            for (int i = 0; i < round.Length; i++)
            {
                Slot slot = round[i];
                switch (outcomes[i])
                {
                    case StagedMount staged:
                        report.Attached++;
                        if (staged.GetState() != StagedMountState.Attached || staged.Target != slot.Target)
                        {
                            report.Violations.Add($"{slot.Target}: reported {staged.State} at {staged.Target}");
                        }

                        string? place = slot.Places.FirstOrDefault(p => fresh.RemoveAll(m => m.MountPoint == ContainerView.NamespacePath(_container, p)) == 1);
                        if (place is null)
                        {
                            report.Violations.Add($"{slot.Target}: reported attached, but no new mount at {string.Join(" or ", slot.Places)}");
                            continue;
                        }

                        string where = place == slot.Target ? "target"
                            : place.StartsWith(Dir + "/s", StringComparison.Ordinal) ? "target, renamed by the container during the move"
                            : place.StartsWith("/etc/", StringComparison.Ordinal) ? "/etc (parent was a link)" : "/ (parent was a link)";
                        report.AttachedAt[where] = report.AttachedAt.GetValueOrDefault(where) + 1;
                        unplug.Add(place);
                        if (slot.CreatesCanary)
                        {
                            created.Add(place);
                        }

                        break;
                    case ErrorRecord error:
                        string id = error.FullyQualifiedErrorId.Split(',')[0];
                        report.RefusalsById[id] = report.RefusalsById.GetValueOrDefault(id) + 1;
                        if (!Refusals.Contains(id) || error.Exception is not HotplugException || string.IsNullOrWhiteSpace(error.ErrorDetails?.Message))
                        {
                            report.Violations.Add($"{slot.Target}: unexpected error {error.FullyQualifiedErrorId} ({error.Exception.GetType().Name}): {error.ErrorDetails?.Message ?? error.Exception.Message}");
                        }

                        break;
                    default:
                        report.Violations.Add($"{slot.Target}: {outcomes[i]}");
                        break;
                }
            }

            foreach (MountInfo stray in fresh)
            {
                report.Violations.Add($"a mount landed elsewhere: {stray}");
            }

            try
            {
                _unplugger.Unplug(unplug);
            }
            catch (InvalidOperationException ex)
            {
                report.Violations.Add($"unplug failed: {ex.Message}; new mounts in the namespace: {string.Join("; ", ContainerView.NamespaceMounts(_container).Where(m => !baseline.Contains(m.MountId)))}");
                throw new InvalidOperationException(string.Join("\n", report.Violations));
            }

            if (created.Count > 0)
            {
                _unplugger.Shell.RunOrThrow("rmdir " + string.Join(' ', created.Select(ContainerShell.Quote)));
            }

            var after = ContainerView.NamespaceMounts(_container).Where(m => !baseline.Contains(m.MountId)).ToList();
            report.Violations.AddRange(after.Select(m => $"still mounted after the unplug: {m}"));
            foreach (Slot slot in round.Where(s => s.CreatesCanary))
            {
                foreach (string place in slot.Places)
                {
                    if (Path.Exists(_container.RootfsPath + place))
                    {
                        report.Violations.Add($"{place}: created but left behind in the container");
                    }

                    string name = Path.GetFileName(place);
                    foreach (string hostPlace in new[] { "/" + name, "/etc/" + name, "/mnt/race", Path.GetDirectoryName(_container.RootfsPath) + "/" + name })
                    {
                        if (Path.Exists(hostPlace))
                        {
                            report.Violations.Add($"{hostPlace}: created on the host");
                        }
                    }
                }
            }
        }

        private sealed record Slot(string Target, string[] Places, bool CreatesCanary);
    }

    private sealed class Stopper(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }

    /// <summary>
    /// Inside the container's namespace: exchanges each t with a symlink (renameat2 RENAME_EXCHANGE, and back), so the
    /// same directory is alternately reachable by its name and not; replaces each p (and every other round each t) by a
    /// symlink and back (rmdir, symlinkat, unlinkat, mkdirat). Each step is a few microseconds.
    /// </summary>
    private sealed unsafe class SymlinkSwapper : ContainerSideThread
    {
        private readonly SafePathHandle _dir;
        private readonly nint[] _exchange;
        private readonly nint[] _replace;
        private readonly nint[] _links;
        private readonly nint[] _linkTargets;

        public SymlinkSwapper(int pid, string[] exchangeNames, string[] replaceNames) : base(pid)
        {
            _dir = MountSyscalls.Open($"/proc/{pid}/root/mnt/race", OpenFlags.Path | OpenFlags.Directory);
            _exchange = exchangeNames.Select(n => (nint)FsCalls.Native(n)).ToArray();
            _replace = replaceNames.Select(n => (nint)FsCalls.Native(n)).ToArray();
            _links = LinkTargets.Select((_, i) => (nint)FsCalls.Native($"s{i}")).ToArray();
            _linkTargets = LinkTargets.Select(l => (nint)FsCalls.Native(l)).ToArray();
        }

        public long Flips { get; private set; }

        protected override void Release()
        {
            foreach (nint p in _exchange.Concat(_replace).Concat(_links).Concat(_linkTargets))
            {
                NativeMemory.Free((void*)p);
            }

            _dir.Dispose();
        }

        protected override void Body()
        {
            int dir = _dir.DescriptorNumber;
            long flips = 0;
            for (long round = 0; !StopRequested; round++)
            {
                for (int k = 0; k < _links.Length; k++)
                {
                    byte* link = (byte*)_links[k];
                    for (int i = 0; i < _exchange.Length; i++)
                    {
                        byte* name = (byte*)_exchange[i];
                        if ((round & 1) == 0)
                        {
                            if (FsCalls.Exchange(dir, name, link) == 0)
                            {
                                // Back again; refused (EBUSY) while the host has mounted on the directory under the
                                // link's name, until that mount is gone: a later round swaps it back.
                                flips++;
                                FsCalls.Exchange(dir, name, link);
                            }
                        }
                        else
                        {
                            flips += Replace(dir, name, (byte*)_linkTargets[k]);
                        }
                    }

                    for (int i = 0; i < _replace.Length; i++)
                    {
                        flips += Replace(dir, (byte*)_replace[i], (byte*)_linkTargets[k]);
                    }
                }
            }

            Flips = flips;
        }

        private static int Replace(int dir, byte* name, byte* linkTarget)
        {
            if (FsCalls.Unlink(dir, name, FsCalls.AtRemoveDir) != 0)
            {
                return 0;
            }

            int swapped = FsCalls.Symlink(linkTarget, dir, name) == 0 ? 1 : 0;
            if (swapped == 1)
            {
                FsCalls.Unlink(dir, name, 0);
            }

            FsCalls.Mkdir(dir, name);
            return swapped;
        }
    }
}
