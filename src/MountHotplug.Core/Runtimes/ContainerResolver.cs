namespace MountHotplug.Runtimes;

/// <summary>Knows how one container runtime names its running containers and which process is each one's init.</summary>
internal abstract class ContainerResolver
{
    internal abstract ContainerRuntime Runtime { get; }

    /// <summary>Called with a line for -Verbose: evidence this resolver ignored, and why.</summary>
    internal Action<string>? Trace { get; set; }

    /// <summary>Whether Get-ContainerNamespace asks this runtime when no -Runtime was given.</summary>
    internal virtual bool TakesPartInAutoDetect => true;

    /// <summary>The running containers this runtime knows of.</summary>
    /// <exception cref="RuntimeUnavailableException">The runtime cannot be asked on this host.</exception>
    internal abstract IReadOnlyList<ContainerCandidate> List();

    /// <summary>The running containers called <paramref name="name"/> (usually none or one).</summary>
    /// <exception cref="RuntimeUnavailableException">The runtime cannot be asked on this host.</exception>
    internal abstract ResolverAnswer Find(string name);

    /// <summary>Container names become path components and command arguments: refuse what could escape either.</summary>
    internal static bool IsPlausibleName(string name) =>
        name.Length is > 0 and <= 255 && name != "." && name != ".." && !name.StartsWith('-')
        && name.All(c => c != '/' && c != '\0' && !char.IsControl(c));
}
