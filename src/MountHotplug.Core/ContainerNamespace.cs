using MountHotplug.Runtimes;

namespace MountHotplug;

/// <summary>
/// A running process (a container's init) pinned by a pidfd, so that a PID reused by another process is never
/// entered. Owns the pidfd.
/// </summary>
public sealed class ContainerNamespace : IDisposable
{
    private readonly SafePidfdHandle _pidfd;

    private ContainerNamespace(int processId, SafePidfdHandle pidfd)
    {
        ProcessId = processId;
        _pidfd = pidfd;
    }

    public int ProcessId { get; }

    // Typed for C# (GetRuntime); PowerShell sees the name, which JSON and CliXml keep as it is.
    private ContainerRuntime? _runtime;

    /// <summary>
    /// The runtime that named the container ("Lxc", "Docker", …), when it was found by -Name (or listed); null when opened by
    /// PID.
    /// </summary>
    public string? Runtime => _runtime?.ToString();

    /// <summary>The container's name in that runtime (an LXC name, a Proxmox CT ID, a docker or podman name, an OCI id, a machine name).</summary>
    public string? Name { get; private set; }

    /// <summary>The runtime's full id, where it has one besides the name (docker, podman).</summary>
    public string? ContainerId { get; private set; }

    public string ProcessName { get; private set; } = string.Empty;

    /// <summary>
    /// When the process started, in clock ticks after boot (/proc/PID/stat field 22): a PID can be reused, a PID and its
    /// start time cannot, so the two name this process again after this object was disposed or deserialized.
    /// </summary>
    public ulong ProcessStartTime { get; private set; }

    /// <summary>The mount namespace's inode number, as lsns and /proc/PID/ns/mnt show it.</summary>
    public ulong MountNamespaceId { get; private set; }

    public ulong UserNamespaceId { get; private set; }

    /// <summary>Whether the process shares the caller's mount namespace (then it is no container to hot-plug into).</summary>
    public bool IsCallerNamespace { get; private set; }

    /// <summary>Whether it runs in a user namespace of its own (an unprivileged container).</summary>
    public bool HasOwnUserNamespace { get; private set; }

    /// <summary>The process's root directory as the host sees it; "/" when it lies outside the host's view (pivot_root).</summary>
    public string RootDirectory { get; private set; } = "/";

    public bool IsAlive => !_pidfd.IsClosed && MountSyscalls.IsAlive(_pidfd);

    public bool IsDisposed => _pidfd.IsClosed;

    internal SafePidfdHandle Pidfd
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pidfd.IsClosed, this);
            return _pidfd;
        }
    }

    /// <summary>Pins <paramref name="processId"/> and reads what it is; the details are checked to belong to the pinned process.</summary>
    public static ContainerNamespace Open(int processId) => Open(processId, MountSyscalls.PidfdOpen(processId));

    /// <summary>Describes the process <paramref name="pidfd"/> pins (taking ownership of it; it is closed on failure).</summary>
    internal static ContainerNamespace Open(int processId, SafePidfdHandle pidfd)
    {
        var ns = new ContainerNamespace(processId, pidfd);
        try
        {
            ns.ProcessName = File.ReadAllText($"/proc/{processId}/comm").TrimEnd('\n');
            ns.ProcessStartTime = StartTimeOf(processId);
            ns.MountNamespaceId = NamespaceInode($"/proc/{processId}/ns/mnt");
            ns.UserNamespaceId = NamespaceInode($"/proc/{processId}/ns/user");
            ns.IsCallerNamespace = ns.MountNamespaceId == NamespaceInode("/proc/self/ns/mnt");
            ns.HasOwnUserNamespace = ns.UserNamespaceId != NamespaceInode("/proc/self/ns/user");
            ns.RootDirectory = new FileInfo($"/proc/{processId}/root").LinkTarget ?? "/";

            // Read through /proc/PID, which a new process could have taken over meanwhile: only a live pidfd proves it did not.
            ns.RequireAlive();
            return ns;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Reading /proc/PID failed: said as the process's exit only when the pidfd says so; otherwise as it was.
            bool alive = MountSyscalls.IsAlive(pidfd);
            pidfd.Dispose();
            if (!alive)
            {
                throw MountSyscalls.Exited(processId, $"/proc/{processId}");
            }

            throw;
        }
        catch (SyscallException ex) when (ex.Errno is Errno.ENOENT or Errno.ESRCH)
        {
            // A zombie still has a PID and a pidfd, even answers signal 0, but no namespaces left to read: it has exited.
            // The call that failed is named with the errno it gave.
            pidfd.Dispose();
            throw SyscallException.Create(ex.Syscall, (int)ex.Errno, ex.Path,
                detail: $"Process {processId} has exited (it is a zombie, or it ended while being read).");
        }
        catch
        {
            pidfd.Dispose();
            throw;
        }
    }

    /// <summary>The runtime that named the container, typed; null when opened by PID.</summary>
    public ContainerRuntime? GetRuntime() => _runtime;


    private readonly object _sessionGate = new();
    private ContainerSession? _session;

    /// <summary>
    /// The session that works inside this container (attach, unmount, change attributes, list, restore). Made on first use
    /// and kept until this object is disposed, so that every pipeline that uses this object shares one namespace thread.
    /// </summary>
    /// <exception cref="ObjectDisposedException">This object was disposed.</exception>
    public ContainerSession Session
    {
        get
        {
            lock (_sessionGate)
            {
                ObjectDisposedException.ThrowIf(_pidfd.IsClosed, this);
                return _session ??= new ContainerSession(this);
            }
        }
    }

    /// <summary>Pins the calling process itself, so that its own mount namespace is worked on like any container's.</summary>
    public static ContainerNamespace OpenCaller() => Open(Environment.ProcessId);

    /// <summary>Ends the session (its namespace thread) and releases the pin.</summary>
    public void Dispose()
    {
        lock (_sessionGate)
        {
            _session?.Dispose();
            _session = null;
            _pidfd.Dispose();
        }
    }

    /// <summary>
    /// The one check that the pinned process is still alive, made AFTER anything read through /proc/PID: if it is alive
    /// then, /proc/PID was still it when it was read (a reused PID needs the pinned process dead first).
    /// </summary>
    /// <exception cref="HotplugException">ContainerExited: the process has exited.</exception>
    /// <exception cref="ObjectDisposedException">This object was disposed: it no longer proves anything.</exception>
    internal void Verify(string subject)
    {
        ObjectDisposedException.ThrowIf(_pidfd.IsClosed, this);
        if (!IsAlive)
        {
            throw new HotplugException(HotplugFailure.ContainerExited, subject,
                $"The container process {ProcessId} has exited; nothing was changed in its namespace.");
        }
    }

    /// <summary>
    /// Pins the process an earlier object described, proving it is the same one: the same start time (a reused PID has
    /// another) and still the same mount namespace.
    /// </summary>
    /// <exception cref="ProcessChangedException">The process has exited, its PID is another process's now, or it has moved to another mount namespace.</exception>
    public static ContainerNamespace Reopen(int processId, ulong startTime, ulong mountNamespaceId)
    {
        ContainerNamespace ns;
        try
        {
            ns = Open(processId);
        }
        catch (SyscallException ex) when (ex.Errno == Errno.ESRCH)
        {
            throw new ProcessChangedException(exited: true, $"Process {processId} has exited: the container the mount was attached in is gone.", ex);
        }

        if (ns.ProcessStartTime != startTime)
        {
            ns.Dispose();
            throw new ProcessChangedException(exited: true,
                $"Process {processId} has exited: PID {processId} now belongs to another process (started at tick {ns.ProcessStartTime}, not {startTime}).");
        }

        if (ns.MountNamespaceId != mountNamespaceId)
        {
            ns.Dispose();
            throw new ProcessChangedException(exited: false,
                $"Process {processId} is now in mount namespace {ns.MountNamespaceId}, not in mount namespace {mountNamespaceId} where the mount was attached.");
        }

        return ns;
    }

    // The start time follows the command name, which may hold spaces and parentheses: count fields after its last ')'.
    internal static ulong StartTimeOf(int processId)
    {
        string stat = File.ReadAllText($"/proc/{processId}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return ulong.Parse(fields[22 - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal void SetContainer(ContainerCandidate candidate)
    {
        _runtime = candidate.Runtime;
        Name = candidate.Name;
        ContainerId = candidate.Id;
    }

    /// <summary>
    /// Opens the process's user namespace (/proc/PID/ns/user), proving through the pidfd that PID was still this
    /// process when it was opened: the descriptor for MOUNT_ATTR_IDMAP must be this container's and no other's.
    /// </summary>
    internal SafePathHandle OpenUserNamespace()
    {
        RequireAlive();
        SafePathHandle userns = MountSyscalls.Open($"/proc/{ProcessId}/ns/user", OpenFlags.ReadOnly);
        try
        {
            RequireAlive();
        }
        catch
        {
            userns.Dispose();
            throw;
        }

        return userns;
    }

    /// <summary>The uid and gid maps of the process's user namespace, read while the pidfd proves the PID.</summary>
    public IdMaps ReadIdMaps()
    {
        RequireAlive();
        IdMaps maps = IdMaps.Read(ProcessId);
        RequireAlive();
        return maps;
    }

    private void RequireAlive()
    {
        if (!MountSyscalls.IsAlive(Pidfd))
        {
            throw MountSyscalls.Exited(ProcessId);
        }
    }

    public override string ToString() => Name is null
        ? $"PID {ProcessId} ({ProcessName}), mount namespace {MountNamespaceId}"
        : $"{Runtime} '{Name}', PID {ProcessId} ({ProcessName}), mount namespace {MountNamespaceId}";

    /// <summary>The inode number of a namespace file (/proc/PID/ns/mnt, .../user), as lsns and /proc show it.</summary>
    public static ulong NamespaceInode(string path)
    {
        using SafePathHandle handle = MountSyscalls.Open(path, OpenFlags.Path);
        return MountSyscalls.Statx(handle, path).Inode;
    }
}

/// <summary>A process named again by PID, start time and mount namespace is not the one that was described.</summary>
public sealed class ProcessChangedException(bool exited, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>True when the process has exited (or its PID was reused); false when it moved to another mount namespace.</summary>
    public bool Exited { get; } = exited;
}
