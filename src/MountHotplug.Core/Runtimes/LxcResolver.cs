using System.Globalization;

namespace MountHotplug.Runtimes;

/// <summary>What lxc-info printed about one container.</summary>
internal sealed record LxcInfo(string? Name, string? State, int? ProcessId)
{
    internal bool IsRunning => string.Equals(State, "RUNNING", StringComparison.Ordinal) && ProcessId is > 0;

    /// <summary>Parses `lxc-info -n NAME` ("Name:  c1", "State:  RUNNING", "PID:  20033", …; other lines are ignored).</summary>
    internal static LxcInfo Parse(string text)
    {
        string? name = null, state = null;
        int? pid = null;
        foreach (string line in text.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            string key = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "Name":
                    name = value;
                    break;
                case "State":
                    state = value;
                    break;
                case "PID" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int p):
                    pid = p;
                    break;
            }
        }

        return new LxcInfo(name, state, pid);
    }
}

/// <summary>A running LXC container's monitor process: "[lxc monitor] LXCPATH NAME" is its command line, its child the init.</summary>
internal sealed record LxcMonitor(int MonitorPid, string LxcPath, string Name)
{
    private const string Prefix = "[lxc monitor] ";

    /// <summary>Parses the monitor's command line (one string, as LXC sets it); null for any other process.</summary>
    internal static (string LxcPath, string Name)? ParseCommandLine(string commandLine)
    {
        if (!commandLine.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        string rest = commandLine[Prefix.Length..].TrimEnd();
        int space = rest.LastIndexOf(' ');
        return space <= 0 ? null : (rest[..space], rest[(space + 1)..]);
    }

    /// <summary>
    /// The host's executables that run as "[lxc monitor]": lxc-start (LXC, Proxmox), and the LXD and Incus daemons, whose
    /// forkstart becomes the monitor.
    /// </summary>
    internal static readonly string[] MonitorBinaries = new[]
    {
        "/usr/bin/lxc-start", "/usr/sbin/lxc-start", "/usr/local/bin/lxc-start", "/usr/bin/lxc-autostart", "/usr/bin/lxc-execute",
    }.Concat(LxdResolver.LxdBinaries).Concat(LxdResolver.IncusBinaries).ToArray();

    /// <summary>
    /// Every LXC monitor on the host, whatever its lxcpath. Any process can call itself "[lxc monitor] PATH NAME", so only the
    /// host's own monitors count (<see cref="HostEvidence.IsHostHelper"/>), and only with an lxcpath the host's root owns
    /// outside every container (<see cref="HostEvidence.IsTrustedDirectory"/>); what else claims to be one is reported to
    /// <paramref name="trace"/> and ignored.
    /// </summary>
    internal static IReadOnlyList<LxcMonitor> Scan(Action<string>? trace = null)
    {
        var monitors = new List<LxcMonitor>();

        // One verdict per lxcpath: checking one walks the path and statx'es every process's root, and a host's monitors
        // mostly share one or two lxcpaths.
        var untrustedPaths = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (int pid in ProcTable.AllPids())
        {
            string commandLine = string.Join(' ', ProcTable.CommandLine(pid));
            if (ParseCommandLine(commandLine) is not { } m)
            {
                continue;
            }

            ulong? start = ProcTable.StartTime(pid);
            string? rejected = !HostEvidence.IsHostHelper(pid, MonitorBinaries, out string why) ? why : UntrustedPath(m.LxcPath);
            if (rejected is not null)
            {
                trace?.Invoke($"PID {pid} claims to be the LXC monitor of '{m.Name}' in {m.LxcPath}: ignored, {rejected}");
                continue;
            }

            // The checks looked at whatever process has the PID now: it must still be the one whose command line was read.
            if (start is null || ProcTable.StartTime(pid) != start || string.Join(' ', ProcTable.CommandLine(pid)) != commandLine)
            {
                continue;
            }

            monitors.Add(new LxcMonitor(pid, m.LxcPath, m.Name));
        }

        return monitors;

        string? UntrustedPath(string path)
        {
            if (!untrustedPaths.TryGetValue(path, out string? verdict))
            {
                untrustedPaths[path] = verdict = HostEvidence.IsTrustedDirectory(path, out string why) ? null : $"its lxcpath cannot be trusted: {why}";
            }

            return verdict;
        }
    }
}

/// <summary>
/// LXC: running containers are found through their monitor processes (so every lxcpath is seen), and each one's init
/// PID is asked of lxc-info, the runtime's own answer. With an lxcpath given, only that one is looked at.
/// </summary>
internal class LxcResolver(string? lxcPath) : ContainerResolver
{
    internal const string FallbackLxcPath = "/var/lib/lxc";

    /// <summary>lxc-info answers in milliseconds; one that hangs (a blocking config file) must not hang the lookup.</summary>
    internal static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(5);

    internal override ContainerRuntime Runtime => ContainerRuntime.Lxc;

    /// <summary>The lxcpath given with -LxcPath, or null for "any, and the configured default for stopped ones".</summary>
    protected string? LxcPath { get; } = lxcPath is null ? null : Path.TrimEndingDirectorySeparator(lxcPath);

    internal override IReadOnlyList<ContainerCandidate> List()
    {
        string lxcInfo = LxcInfoTool();
        var found = new List<ContainerCandidate>();
        IReadOnlyList<LxcMonitor> monitors = LxcMonitor.Scan(Trace);
        foreach (LxcMonitor monitor in monitors)
        {
            if ((LxcPath is null || SamePath(monitor.LxcPath, LxcPath)) && Accepts(monitor.Name)
                && Ask(lxcInfo, monitor.LxcPath, monitor.Name) is { IsRunning: true } info
                && Vouched(info.ProcessId!.Value, monitor.LxcPath, monitor.Name, monitors) is { } start)
            {
                found.Add(Candidate(monitor.Name, info.ProcessId!.Value, monitor.LxcPath, start));
            }
        }

        return found;
    }

    internal override ResolverAnswer Find(string name)
    {
        if (!IsPlausibleName(name) || !Accepts(name))
        {
            return ResolverAnswer.None;
        }

        string lxcInfo = LxcInfoTool();
        IReadOnlyList<LxcMonitor> monitors = LxcMonitor.Scan(Trace);
        IEnumerable<string> paths = LxcPath is not null
            ? new[] { LxcPath }
            : monitors.Where(m => m.Name == name).Select(m => m.LxcPath).Distinct().DefaultIfEmpty(DefaultLxcPath(lxcInfo));
        var running = new List<ContainerCandidate>();
        string? stopped = null;
        foreach (string path in paths)
        {
            LxcInfo? info = Ask(lxcInfo, path, name);
            if (info is { IsRunning: true })
            {
                if (Vouched(info.ProcessId!.Value, path, name, monitors) is { } start)
                {
                    running.Add(Candidate(name, info.ProcessId!.Value, path, start));
                }
                else
                {
                    stopped = $"lxc-info says '{name}' in {path} runs as PID {info.ProcessId}, but no LXC monitor of the host's is that process's parent (something else may answer on its command socket)";
                }
            }
            else if (info is not null)
            {
                stopped = $"{Runtime} knows '{name}' in {path}, but it is {info.State ?? "not running"}";
            }
        }

        return new ResolverAnswer(running, stopped);
    }

    /// <summary>Whether this resolver answers for a name (Proxmox: CT IDs only).</summary>
    protected virtual bool Accepts(string name) => true;

    protected ContainerCandidate Candidate(string name, int pid, string path, ulong start) =>
        new(Runtime, name, pid, StartTime: start, Id: null, Location: $"lxcpath {path}");

    /// <summary>
    /// The start time of the init lxc-info named, when the host's own monitor of that container is its parent; else null.
    /// lxc-info asks the container's command socket, an abstract unix socket: any process in the host's network namespace
    /// (a container without a network namespace of its own) can bind that name first and answer with a PID of its choice.
    /// The monitor, checked by <see cref="LxcMonitor.Scan"/>, is the parent of the real init.
    /// </summary>
    private ulong? Vouched(int pid, string path, string name, IReadOnlyList<LxcMonitor> monitors)
    {
        ulong? start = ProcTable.StartTime(pid);
        int? parent = ProcTable.ParentPid(pid);
        if (start is not null && monitors.Any(m => m.MonitorPid == parent && m.Name == name && SamePath(m.LxcPath, path))
            && ProcTable.StartTime(pid) == start)
        {
            return start;
        }

        Trace?.Invoke($"lxc-info names PID {pid} as the init of '{name}' in {path}, but that is no child of the host's LXC monitor of it: ignored");
        return null;
    }

    private string LxcInfoTool() =>
        CommandRunner.Find("/usr/bin/lxc-info", "/usr/local/bin/lxc-info", "/bin/lxc-info")
        ?? throw new RuntimeUnavailableException(Runtime, "lxc-info is not installed (Debian package lxc)", absent: true);

    // null: lxc-info does not know the container in that lxcpath.
    private LxcInfo? Ask(string lxcInfo, string path, string name)
    {
        CommandOutput output = CommandRunner.Run(Runtime, lxcInfo, new[] { "-P", path, "-n", name }, ToolTimeout);
        if (output.ExitCode != 0)
        {
            return null;
        }

        LxcInfo info = LxcInfo.Parse(output.StandardOutput);
        return info.State is null ? null : info;
    }

    private string DefaultLxcPath(string lxcInfo)
    {
        string? config = CommandRunner.Find(Path.Combine(Path.GetDirectoryName(lxcInfo)!, "lxc-config"));
        if (config is not null)
        {
            CommandOutput output = CommandRunner.Run(Runtime, config, new[] { "lxc.lxcpath" }, ToolTimeout);
            string path = output.StandardOutput.Trim();
            if (output.ExitCode == 0 && path.StartsWith('/'))
            {
                return path;
            }
        }

        return FallbackLxcPath;
    }

    private static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(a), Path.TrimEndingDirectorySeparator(b), StringComparison.Ordinal);
}
