
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
public sealed class OpenedUserNamespace(SafePathHandle handle, ulong inode, string description) : IDisposable
{
    internal SafePathHandle Handle { get; } = handle;

    public ulong Inode { get; } = inode;

    /// <summary>The descriptor number, for traces.</summary>
    public int DescriptorNumber => Handle.DescriptorNumber;

    public string Description { get; } = description;

    public void Dispose() => Handle.Dispose();
}
