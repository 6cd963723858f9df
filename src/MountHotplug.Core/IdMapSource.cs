
namespace MountHotplug;

/// <summary>
/// The user namespace an idmapped mount maps through: a container (its init's user namespace) or the path of a user
/// namespace file (/proc/PID/ns/user, or one bind-mounted somewhere). PowerShell converts either through the constructors.
/// </summary>
public sealed class IdMapSource
{
    public IdMapSource(ContainerNamespace container) => Container = container;

    public IdMapSource(string path) => Path = path;

    public ContainerNamespace? Container { get; }

    public string? Path { get; }

    public override string ToString() => Container is { } c ? $"the user namespace of {c}" : $"the user namespace at '{Path}'";
}

/// <summary>An opened user namespace, checked to be one and not the host's own.</summary>
public sealed class OpenedUserNamespace(SafePathHandle handle, ulong inode, string description, int? processId = null) : IDisposable
{
    internal SafePathHandle Handle { get; } = handle;

    /// <summary>A process whose user namespace this is (a container's init, or the PID of a /proc/PID/ns/user path), if known.</summary>
    internal int? ProcessId { get; } = processId;

    /// <summary>
    /// Whether the namespace has no uid or no gid map yet (a runtime writes them after it made the namespace, so a hook can
    /// run before): the kernel then refuses an idmap with EINVAL, which reads like a filesystem without idmap support.
    /// False when it cannot tell (no known process, or its /proc files cannot be read).
    /// </summary>
    internal bool IsUnmapped()
    {
        if (ProcessId is not { } pid)
        {
            return false;
        }

        try
        {
            IdMaps maps = IdMaps.Read(pid);
            return maps.Uid.Count == 0 || maps.Gid.Count == 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return false;
        }
    }

    public ulong Inode { get; } = inode;

    /// <summary>The descriptor number, for traces.</summary>
    public int DescriptorNumber => Handle.DescriptorNumber;

    public string Description { get; } = description;

    public void Dispose() => Handle.Dispose();
}
