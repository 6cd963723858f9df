using System.Globalization;

namespace MountHotplug.Runtimes;

/// <summary>systemd-machined's record of a machine (/run/systemd/machines/NAME, KEY=VALUE lines).</summary>
internal sealed record MachineRecord(int? Leader, string? Class, string? Service)
{
    internal static MachineRecord Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n'))
        {
            int eq = line.IndexOf('=');
            if (eq > 0 && !line.StartsWith('#'))
            {
                values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
            }
        }

        int? leader = values.TryGetValue("LEADER", out string? l) && int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
        return new MachineRecord(leader, values.GetValueOrDefault("CLASS"), values.GetValueOrDefault("SERVICE"));
    }
}

/// <summary>The machine name a systemd-nspawn command line gives its container.</summary>
internal static class NspawnCommandLine
{
    // Options that take their value as the next argument: skipping them keeps their value from being taken for the
    // command (getopt in nspawn stops at the first argument that is no option).
    private static readonly HashSet<string> TakesValue = new(StringComparer.Ordinal)
    {
        "-u", "--user", "-E", "--setenv", "-S", "--slice", "-p", "--port", "-L", "-Z", "--uuid", "--chdir", "--bind", "--bind-ro",
        "--tmpfs", "--overlay", "--overlay-ro", "--inaccessible", "--network-interface", "--network-macvlan", "--network-ipvlan",
        "--network-veth-extra", "--network-bridge", "--network-zone", "--network-namespace-path", "--property", "--register",
        "--console", "--capability", "--drop-capability", "--kill-signal", "--link-journal", "--private-users", "--resolv-conf",
        "--timezone", "--hostname", "--settings", "--pivot-root", "--root-hash", "--rlimit", "--oom-score-adjust", "--cpu-affinity",
        "--personality", "--machine-id", "--template", "--set-credential", "--load-credential", "--bind-user", "--system-call-filter",
        "--notify-ready", "--suppress-sync", "--private-users-ownership", "--volatile", "--uid",
    };

    /// <summary>
    /// -M/--machine NAME wins; else nspawn names the machine after the last component of -D/--directory or
    /// -i/--image (without ".raw"). Null when the arguments are not those of a container start.
    /// </summary>
    internal static string? MachineName(IReadOnlyList<string> argv)
    {
        string? machine = null, directory = null, image = null;
        for (int i = 1; i < argv.Count; i++)
        {
            string a = argv[i];
            if (a == "--")
            {
                break;
            }

            if (Value(argv, ref i, a, "-M", "--machine") is { } m)
            {
                machine = m;
            }
            else if (Value(argv, ref i, a, "-D", "--directory") is { } d)
            {
                directory = d;
            }
            else if (Value(argv, ref i, a, "-i", "--image") is { } img)
            {
                image = img;
            }
            else if (TakesValue.Contains(a))
            {
                i++;
            }
            else if (!a.StartsWith('-'))
            {
                break; // the command to run inside: nspawn's own options end here
            }
        }

        if (!string.IsNullOrEmpty(machine))
        {
            return machine;
        }

        string? from = directory ?? image;
        if (string.IsNullOrEmpty(from))
        {
            return null;
        }

        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(from));
        return image is not null && directory is null && name.EndsWith(".raw", StringComparison.Ordinal) ? name[..^4] : name;
    }

    private static string? Value(IReadOnlyList<string> argv, ref int i, string a, string shortName, string longName)
    {
        if (a == shortName || a == longName)
        {
            return ++i < argv.Count ? argv[i] : null;
        }

        if (a.StartsWith(longName + "=", StringComparison.Ordinal))
        {
            return a[(longName.Length + 1)..];
        }

        return a.StartsWith(shortName, StringComparison.Ordinal) && !a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2
            ? a[2..]
            : null;
    }
}

/// <summary>
/// systemd-nspawn: machined's state files when machined runs, and in any case the process tree: each systemd-nspawn
/// process's command line names the machine, and its child is the container's init (with --register=no, or without
/// systemd as PID 1, the tree is all there is).
/// </summary>
internal sealed class NspawnResolver(string machinesDirectory = NspawnResolver.DefaultMachinesDirectory) : ContainerResolver
{
    internal const string DefaultMachinesDirectory = "/run/systemd/machines";

    internal static readonly string[] NspawnBinaries = { "/usr/bin/systemd-nspawn", "/bin/systemd-nspawn", "/usr/local/bin/systemd-nspawn" };

    internal override ContainerRuntime Runtime => ContainerRuntime.Nspawn;

    internal override IReadOnlyList<ContainerCandidate> List()
    {
        var found = new List<ContainerCandidate>();
        if (Directory.Exists(machinesDirectory))
        {
            foreach (string file in Directory.EnumerateFiles(machinesDirectory))
            {
                string name = Path.GetFileName(file);
                if (!name.StartsWith("unit:", StringComparison.Ordinal) && FromMachined(name) is { } c)
                {
                    found.Add(c);
                }
            }
        }

        found.AddRange(FromProcessTree(null).Where(c => found.All(f => f.ProcessId != c.ProcessId)));
        return found;
    }

    internal override ResolverAnswer Find(string name)
    {
        if (!IsPlausibleName(name))
        {
            return ResolverAnswer.None;
        }

        var found = new List<ContainerCandidate>();
        if (FromMachined(name) is { } c)
        {
            found.Add(c);
        }

        found.AddRange(FromProcessTree(name).Where(t => found.All(f => f.ProcessId != t.ProcessId)));
        return new ResolverAnswer(found);
    }

    private ContainerCandidate? FromMachined(string name)
    {
        if (HostEvidence.ReadStateFile(Path.Combine(machinesDirectory, name), Trace) is not { } text)
        {
            return null;
        }

        MachineRecord record = MachineRecord.Parse(text);
        return record is { Leader: > 0, Class: null or "container" } && ProcTable.StartTime(record.Leader.Value) is { } start
            ? new ContainerCandidate(Runtime, name, record.Leader.Value, start, Id: null, Location: "machined")
            : null;
    }

    private IEnumerable<ContainerCandidate> FromProcessTree(string? name)
    {
        foreach (int pid in ProcTable.AllPids())
        {
            if (ProcTable.Comm(pid) != "systemd-nspawn"
                || NspawnCommandLine.MachineName(ProcTable.CommandLine(pid)) is not { } machine
                || (name is not null && machine != name))
            {
                continue;
            }

            // Any process can be called systemd-nspawn and say -M NAME: only the host's own nspawn counts.
            if (!HostEvidence.IsHostHelper(pid, NspawnBinaries, out string why))
            {
                Trace?.Invoke($"PID {pid} claims to be systemd-nspawn of machine '{machine}': ignored, {why}");
                continue;
            }

            // The container's init is nspawn's only long-lived child.
            foreach (int child in ProcTable.Children(pid).Take(1))
            {
                if (ProcTable.StartTime(child) is { } start && ProcTable.ParentPid(child) == pid)
                {
                    yield return new ContainerCandidate(Runtime, machine, child, start, Id: null, Location: $"systemd-nspawn PID {pid}");
                }
            }
        }
    }
}
