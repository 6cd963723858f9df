using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace MountHotplug.Runtimes;

/// <summary>
/// An LXD or Incus container as its user names it: "p1" in the default project, "web:p1" (or -Project web) in another.
/// liblxc, which runs it, calls it "web_p1" (the daemon's own mapping of projects to liblxc names).
/// </summary>
internal readonly record struct LxdName(string Project, string Name)
{
    internal const string DefaultProject = "default";

    /// <summary>The name liblxc gives the container: its monitor's command line says this one.</summary>
    internal string LiblxcName => Project == DefaultProject ? Name : $"{Project}_{Name}";

    /// <summary>What the user types to find it again: the name alone in the default project, "PROJECT:NAME" elsewhere.</summary>
    internal string Display => Project == DefaultProject ? Name : $"{Project}:{Name}";

    /// <summary>
    /// "NAME" or "PROJECT:NAME", in <paramref name="project"/> when one was given (and the name says no other one); null for
    /// what no LXD instance can be called (the daemon allows neither '/' nor ':' in a name, nor '_' in a project's).
    /// </summary>
    internal static LxdName? Parse(string given, string? project)
    {
        int colon = given.IndexOf(':');
        string name = colon < 0 ? given : given[(colon + 1)..];
        string? named = colon < 0 ? null : given[..colon];
        if (named is not null && project is not null && named != project)
        {
            return null;
        }

        string p = named ?? project ?? DefaultProject;
        return ContainerResolver.IsPlausibleName(name) && ContainerResolver.IsPlausibleName(p) && !name.Contains(':') && !p.Contains('_')
            ? new LxdName(p, name)
            : null;
    }
}

/// <summary>One instance as LXD's REST API describes it (GET /1.0/instances?recursion=2, or /1.0/instances/NAME/state).</summary>
internal sealed record LxdInstance(LxdName Name, string Status, bool IsContainer, int? ProcessId)
{
    internal bool IsRunning => IsContainer && Status == "Running" && ProcessId is > 0;

    /// <summary>The instances of a recursion=2 list; virtual machines are listed but are no containers.</summary>
    internal static IReadOnlyList<LxdInstance> ParseList(string json)
    {
        var found = new List<LxdInstance>();
        using JsonDocument doc = JsonDocument.Parse(json);
        if (Metadata(doc.RootElement) is not { ValueKind: JsonValueKind.Array } list)
        {
            throw new FormatException("the instance list is not an array");
        }

        foreach (JsonElement item in list.EnumerateArray())
        {
            string? name = Text(item, "name");
            string project = Text(item, "project") ?? LxdName.DefaultProject;
            if (name is null)
            {
                continue;
            }

            JsonElement? state = item.TryGetProperty("state", out JsonElement s) && s.ValueKind == JsonValueKind.Object ? s : null;
            found.Add(new LxdInstance(new LxdName(project, name), Text(item, "status") ?? string.Empty,
                Text(item, "type") is null or "container", state is { } st ? Pid(st) : null));
        }

        return found;
    }

    /// <summary>One instance's state; null when the daemon says there is no such instance (404).</summary>
    internal static LxdInstance? ParseState(LxdName name, string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        if (Metadata(doc.RootElement) is not { ValueKind: JsonValueKind.Object } state)
        {
            return null;
        }

        // The state endpoint answers for containers only with a "pid" the host sees; a VM's is its QEMU process.
        return new LxdInstance(name, Text(state, "status") ?? string.Empty, IsContainer: true, Pid(state));
    }

    /// <summary>
    /// The envelope's metadata: {"type":"sync","metadata":…}, or null for {"type":"error","error_code":404}.
    /// </summary>
    /// <exception cref="FormatException">Any other error: the daemon's message.</exception>
    private static JsonElement? Metadata(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the answer is not a JSON object");
        }

        if (Text(root, "type") == "error")
        {
            if (root.TryGetProperty("error_code", out JsonElement code) && code.ValueKind == JsonValueKind.Number && code.GetInt32() == 404)
            {
                return null;
            }

            throw new FormatException(Text(root, "error") ?? "an error without a message");
        }

        return root.TryGetProperty("metadata", out JsonElement m) ? m : null;
    }

    private static int? Pid(JsonElement state) =>
        state.TryGetProperty("pid", out JsonElement p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out int pid) ? pid : null;

    private static string? Text(JsonElement o, string property) =>
        o.TryGetProperty(property, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>
/// LXD and Incus: the list and the states come from the daemon's REST API on its unix socket (no client process), and every
/// PID it names must be the child of the host's own liblxc monitor of that container (<see cref="LxcMonitor.Scan"/>) in the
/// daemon's directory. The socket counts only when it is a socket the host's root owns in a directory only root can change,
/// and the process listening on it is the host's daemon binary (SO_PEERCRED, <see cref="HostEvidence.IsHostHelper"/>).
/// No socket: the runtime is not on this host. A daemon that does not answer within <see cref="RestTimeout"/>: unavailable.
/// </summary>
internal sealed class LxdResolver : ContainerResolver
{
    /// <summary>The daemon answers a local GET in milliseconds; one that does not in seconds is hung, and is said to be.</summary>
    internal static readonly TimeSpan RestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>LXD's daemon, which also runs as each container's "[lxc monitor]" (lxd forkstart): Debian's /usr/bin/lxd.</summary>
    internal static readonly string[] LxdBinaries = { "/usr/bin/lxd", "/usr/sbin/lxd", "/usr/lib/lxd/lxd", "/usr/libexec/lxd/lxd" };

    /// <summary>Incus's daemon (Debian's, and the Zabbly packages' /opt/incus).</summary>
    internal static readonly string[] IncusBinaries =
        { "/usr/bin/incusd", "/usr/sbin/incusd", "/usr/lib/incus/incusd", "/usr/libexec/incus/incusd", "/opt/incus/bin/incusd" };

    // An instance list of thousands of containers is a few MiB; more is no daemon's answer.
    private const int AnswerLimit = 64 << 20;

    private readonly ContainerRuntime _runtime;
    private readonly string? _project;

    internal LxdResolver(ContainerRuntime runtime, string? project)
    {
        if (runtime is not (ContainerRuntime.Lxd or ContainerRuntime.Incus))
        {
            throw new ArgumentOutOfRangeException(nameof(runtime));
        }

        _runtime = runtime;
        _project = project;
    }

    internal override ContainerRuntime Runtime => _runtime;

    private string Product => _runtime == ContainerRuntime.Lxd ? "LXD" : "Incus";

    private string DirectoryVariable => _runtime == ContainerRuntime.Lxd ? "LXD_DIR" : "INCUS_DIR";

    /// <summary>$LXD_DIR (or $INCUS_DIR) when set, else where the Debian and snap packages keep the daemon's socket.</summary>
    internal IReadOnlyList<string> DaemonDirectories =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } dir
            ? new[] { Path.TrimEndingDirectorySeparator(dir) }
            : _runtime == ContainerRuntime.Lxd ? new[] { "/var/lib/lxd", "/var/snap/lxd/common/lxd" } : new[] { "/var/lib/incus" };

    internal override IReadOnlyList<ContainerCandidate> List()
    {
        string query = _project is null ? "all-projects=true" : "project=" + Uri.EscapeDataString(_project);
        (string dir, string json) = Get($"/1.0/instances?recursion=2&{query}");
        IReadOnlyList<LxdInstance> instances;
        try
        {
            instances = LxdInstance.ParseList(json);
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            throw new RuntimeUnavailableException(Runtime, $"{Product}'s instance list could not be read: {ex.Message}");
        }

        IReadOnlyList<LxcMonitor> monitors = LxcMonitor.Scan(Trace);
        var found = new List<ContainerCandidate>();
        foreach (LxdInstance instance in instances.Where(i => i.IsRunning))
        {
            if (Vouched(instance, dir, monitors) is { } start)
            {
                found.Add(Candidate(instance, dir, start));
            }
        }

        return found;
    }

    internal override ResolverAnswer Find(string name)
    {
        if (LxdName.Parse(name, _project) is not { } wanted)
        {
            return ResolverAnswer.None;
        }

        (string dir, string json) = Get($"/1.0/instances/{Uri.EscapeDataString(wanted.Name)}/state?project={Uri.EscapeDataString(wanted.Project)}");
        LxdInstance? instance;
        try
        {
            instance = LxdInstance.ParseState(wanted, json);
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            throw new RuntimeUnavailableException(Runtime, $"{Product} could not say what '{wanted.Display}' is: {ex.Message}");
        }

        if (instance is null)
        {
            return ResolverAnswer.None;
        }

        string where = wanted.Project == LxdName.DefaultProject ? string.Empty : $" (project {wanted.Project})";
        if (!instance.IsRunning)
        {
            return new ResolverAnswer(Array.Empty<ContainerCandidate>(), $"{Product} knows '{wanted.Name}'{where}, but it is {instance.Status}");
        }

        if (Vouched(instance, dir, LxcMonitor.Scan(Trace)) is not { } start)
        {
            return new ResolverAnswer(Array.Empty<ContainerCandidate>(),
                $"{Product} says '{wanted.Name}'{where} runs as PID {instance.ProcessId}, but no liblxc monitor of the host's is that process's parent");
        }

        return ResolverAnswer.Of(Candidate(instance, dir, start));
    }

    private ContainerCandidate Candidate(LxdInstance instance, string dir, ulong start) =>
        new(Runtime, instance.Name.Display, instance.ProcessId!.Value, StartTime: start, Id: null,
            Location: $"project {instance.Name.Project} in {dir}");

    /// <summary>
    /// The init's start time when the host's own monitor of this container ("[lxc monitor] DIR/containers LIBLXC-NAME") is
    /// its parent; else null. The daemon's answer alone is not evidence enough: its PID is the one the monitor started.
    /// </summary>
    private ulong? Vouched(LxdInstance instance, string dir, IReadOnlyList<LxcMonitor> monitors)
    {
        int pid = instance.ProcessId!.Value;
        string lxcPath = dir + "/containers";
        ulong? start = ProcTable.StartTime(pid);
        int? parent = ProcTable.ParentPid(pid);
        if (start is not null
            && monitors.Any(m => m.MonitorPid == parent && m.Name == instance.Name.LiblxcName
                && string.Equals(Path.TrimEndingDirectorySeparator(m.LxcPath), lxcPath, StringComparison.Ordinal))
            && ProcTable.StartTime(pid) == start)
        {
            return start;
        }

        Trace?.Invoke($"{Product} names PID {pid} as the init of '{instance.Name.Display}', but that is no child of the host's liblxc monitor of '{instance.Name.LiblxcName}' in {lxcPath}: ignored");
        return null;
    }

    /// <summary>GET on the daemon's socket: the daemon's directory and the answer's body.</summary>
    /// <exception cref="RuntimeUnavailableException">No daemon (absent), or one that cannot be trusted or did not answer.</exception>
    private (string Directory, string Body) Get(string path)
    {
        (string dir, SafePathHandle socketFile) = FindSocket();
        using (socketFile)
        {
            using var cancel = new CancellationTokenSource(RestTimeout);
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            string socketPath = dir + "/unix.socket";
            try
            {
                // Connected through the descriptor that was checked, so the socket cannot be swapped after the check.
                socket.ConnectAsync(new UnixDomainSocketEndPoint(
                    string.Create(CultureInfo.InvariantCulture, $"/proc/self/fd/{socketFile.DescriptorNumber}")), cancel.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused)
            {
                throw new RuntimeUnavailableException(Runtime, $"no {Product} daemon: nothing listens on {socketPath} (start it, or set {DirectoryVariable})", absent: true);
            }
            catch (SocketException ex)
            {
                throw new RuntimeUnavailableException(Runtime, $"{socketPath} cannot be connected to: {ex.Message}");
            }
            catch (OperationCanceledException)
            {
                throw NoAnswer(socketPath);
            }

            CheckListener(socket, socketPath);
            try
            {
                byte[] request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\nHost: {Product.ToLowerInvariant()}\r\nUser-Agent: MountHotplug\r\n\r\n");
                socket.SendAsync(request, SocketFlags.None, cancel.Token).AsTask().GetAwaiter().GetResult();
                return (dir, Body(ReadAll(socket, cancel.Token), socketPath));
            }
            catch (OperationCanceledException)
            {
                throw NoAnswer(socketPath);
            }
            catch (SocketException ex)
            {
                throw new RuntimeUnavailableException(Runtime, $"{Product} on {socketPath} failed to answer: {ex.Message}");
            }
        }
    }

    private RuntimeUnavailableException NoAnswer(string socketPath) =>
        new(Runtime, $"the {Product} daemon on {socketPath} did not answer within {RestTimeout.TotalSeconds:0} s");

    /// <summary>
    /// The first daemon directory with a unix.socket, opened without following a symlink; it must be a socket of the host's
    /// root in a directory only root can change (<see cref="HostEvidence.IsTrustedDirectory"/>).
    /// </summary>
    private (string Directory, SafePathHandle Socket) FindSocket()
    {
        foreach (string dir in DaemonDirectories)
        {
            string path = dir + "/unix.socket";
            SafePathHandle? handle = MountSyscalls.TryOpen(path, OpenFlags.Path | OpenFlags.NoFollow, out int errno);
            if (handle is null)
            {
                if (errno is (int)Errno.ENOENT or (int)Errno.ENOTDIR)
                {
                    continue;
                }

                throw new RuntimeUnavailableException(Runtime, $"{path} cannot be opened ({ErrnoText.Name(errno)})");
            }

            try
            {
                StatxInfo info = MountSyscalls.Statx(handle, path, uniqueMountId: false);
                string? rejected = !info.IsSocket || info.Uid != 0 ? $"it is a {info.KindName} of uid {info.Uid}, not a socket of root's"
                    : !HostEvidence.IsTrustedDirectory(dir, out string why) ? why
                    : null;
                if (rejected is not null)
                {
                    throw new RuntimeUnavailableException(Runtime, $"{path} is not the {Product} daemon's socket: {rejected}");
                }

                return (dir, handle);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        string where = Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 }
            ? $"${DirectoryVariable} ({DaemonDirectories[0]}) has no unix.socket"
            : $"{DirectoryVariable} is not set, and there is no unix.socket in {string.Join(" or ", DaemonDirectories)}";
        throw new RuntimeUnavailableException(Runtime, $"no {Product} daemon: {where}", absent: true);
    }

    /// <summary>The process that listens must be the host's own daemon binary, running as root (SO_PEERCRED).</summary>
    private void CheckListener(Socket socket, string socketPath)
    {
        const int SolSocket = 1, SoPeerCred = 17;
        byte[] credentials = new byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        if (socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials) != credentials.Length)
        {
            throw new RuntimeUnavailableException(Runtime, $"{socketPath}: the listener's credentials cannot be read");
        }

        int pid = BitConverter.ToInt32(credentials, 0);
        string[] binaries = _runtime == ContainerRuntime.Lxd ? LxdBinaries : IncusBinaries;
        // Absent, not unanswered: only the host's root can put a socket in the root-only directory found above, so this
        // is no container's forgery but a daemon that cannot be vouched for (the snap's runs in a mount namespace of its
        // own). Without -Runtime the lookup goes on without it, saying so with -Verbose; with -Runtime it is an error.
        if (!HostEvidence.IsHostHelper(pid, binaries, out string why))
        {
            throw new RuntimeUnavailableException(Runtime, $"the process listening on {socketPath} (PID {pid}) is not the host's {Product} daemon: {why}", absent: true);
        }
    }

    private static byte[] ReadAll(Socket socket, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[64 * 1024];
        while (true)
        {
            int n = socket.ReceiveAsync(chunk, SocketFlags.None, cancel).AsTask().GetAwaiter().GetResult();
            if (n == 0)
            {
                return buffer.ToArray();
            }

            if (buffer.Length + n > AnswerLimit)
            {
                throw new SocketException((int)SocketError.MessageSize);
            }

            buffer.Write(chunk, 0, n);
        }
    }

    /// <summary>
    /// The body of an HTTP/1.0 answer (no keep-alive, so the daemon ends it by closing; Go's server sends no chunks to a
    /// 1.0 client). Error statuses carry LXD's JSON error envelope, which the parsers read.
    /// </summary>
    private string Body(byte[] answer, string socketPath)
    {
        string text = Encoding.UTF8.GetString(answer);
        int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (!text.StartsWith("HTTP/1.", StringComparison.Ordinal) || end < 0)
        {
            throw new RuntimeUnavailableException(Runtime, $"{socketPath} did not answer in HTTP");
        }

        if (text[..end].Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            throw new RuntimeUnavailableException(Runtime, $"{socketPath} answered an HTTP/1.0 request in chunks");
        }

        return text[(end + 4)..];
    }
}
