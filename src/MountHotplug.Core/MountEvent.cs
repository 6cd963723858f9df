
namespace MountHotplug;

/// <summary>One mount event of a watched mount namespace (Watch-Mount).</summary>
public sealed class MountEvent
{
    // Typed for C# (GetKind); PowerShell sees the name, which JSON and CliXml keep as it is.
    private readonly MountEventKind _kind;

    public MountEvent(MountWatchEvent e, ContainerNamespace ns)
    {
        Time = e.Time;
        _kind = e.Kind;
        MountId = e.MountId;
        ProcessId = e.ProcessId;
        MountPoint = e.Entry?.MountPoint;
        Source = e.Entry?.Source;
        FileSystemType = e.Entry?.FileSystemType;
        Options = e.Entry?.Options;
        NamespaceProcessId = ns.ProcessId;
        Container = ns.Name;
        MountNamespaceId = ns.MountNamespaceId;
    }

    /// <summary>When the event was read.</summary>
    public DateTimeOffset Time { get; }

    /// <summary>"Attached", "Detached" or "Moved" (<see cref="GetKind"/>).</summary>
    public string Kind => _kind.ToString();

    /// <summary>The mount's unique id (statmount, STATX_MNT_ID_UNIQUE); 0 for an overflow.</summary>
    public ulong MountId { get; }

    /// <summary>The host PID of the process whose action caused the event, as fanotify reports it (0 when unknown).</summary>
    public int ProcessId { get; }

    /// <summary>Where the mount is (Attached, Moved) or was (Detached), as the container sees it; null when it was gone before it could be read.</summary>
    public string? MountPoint { get; }

    public string? Source { get; }

    public string? FileSystemType { get; }

    public string? Options { get; }

    /// <summary>The PID of the watched container's process.</summary>
    public int NamespaceProcessId { get; }

    /// <summary>The container's name, when it was found by name.</summary>
    public string? Container { get; }

    public ulong MountNamespaceId { get; }

    /// <summary>What happened to the mount, typed.</summary>
    public MountEventKind GetKind() => _kind;

    public override string ToString() => $"{Kind} {MountPoint ?? MountId.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}
