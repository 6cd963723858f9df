namespace MountHotplug;

/// <summary>
/// A path inside a container, as the object of an error about it: the path and which container, by value only (an error kept
/// in $Error must not hold the container's pidfd open).
/// </summary>
public sealed class ContainerPath
{
    public ContainerPath(string path, ContainerNamespace ns)
    {
        Path = path;
        ProcessId = ns.ProcessId;
        Container = ns.Name;
        MountNamespaceId = ns.MountNamespaceId;
    }

    /// <summary>The absolute path inside the container.</summary>
    public string Path { get; }

    /// <summary>The PID whose mount namespace the path is in.</summary>
    public int ProcessId { get; }

    /// <summary>The container's name, when it was found by name.</summary>
    public string? Container { get; }

    public ulong MountNamespaceId { get; }

    public override string ToString() => Container is null ? $"{Path} in PID {ProcessId}" : $"{Path} in PID {ProcessId} ('{Container}')";
}
