
namespace MountHotplug;

/// <summary>
/// One mount of a mount namespace, as Get-Mount lists it: everything <see cref="MountEntry"/> tells, and the namespace it was
/// listed from. Commands that take a mount from the pipeline bind it by property: <see cref="MountEntry.MountPoint"/> and
/// <see cref="Namespace"/> name the mount again, and the unique mount id proves it is still the same one.
/// </summary>
public sealed record Mount : MountEntry
{
    public Mount(MountEntry entry, ContainerNamespace? ns)
        : base(entry)
    {
        Namespace = ns;
    }

    /// <summary>The container namespace it was listed from; null for the caller's own mount namespace.</summary>
    public ContainerNamespace? Namespace { get; }
}
