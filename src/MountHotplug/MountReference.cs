namespace MountHotplug;

/// <summary>
/// A mount named by a path (inside a namespace given separately) or by a staged mount. PowerShell converts a string
/// or a StagedMount to it through the constructors, so -Source /a and -Source $staged both bind.
/// </summary>
public sealed class MountReference
{
    public MountReference(string path) => Path = path;

    public MountReference(StagedMount mount) => StagedMount = mount;

    public string? Path { get; }

    public StagedMount? StagedMount { get; }

    public override string ToString() => Path is not null ? $"'{Path}'" : $"staged mount of '{StagedMount!.Source}'";
}
