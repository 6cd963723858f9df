namespace MountHotplug;

/// <summary>
/// A mount named by a path (inside a namespace given separately), by a staged mount, or by a Get-Mount object, which carries
/// its own namespace. PowerShell converts a string, a StagedMount or a Mount to it through the constructors, so -Source /a,
/// -Source $staged and -Source (Get-Mount /a) all bind.
/// </summary>
public sealed class MountReference
{
    public MountReference(string path) => Path = path;

    public MountReference(StagedMount mount) => StagedMount = mount;

    public MountReference(Mount mount)
    {
        Mount = mount;
        Path = mount.MountPoint;
    }

    public string? Path { get; }

    public StagedMount? StagedMount { get; }

    /// <summary>The Get-Mount object, when the reference was made from one: its namespace and unique id go with it.</summary>
    public Mount? Mount { get; }

    public override string ToString() => StagedMount is not null ? $"staged mount of '{StagedMount.Source}'" : $"'{Path}'";
}
