using System.Management.Automation;

namespace MountHotplug;

/// <summary>Get-Mount: the mounts of a mount namespace (the caller's, a container's), with their attributes and propagation.</summary>
[Cmdlet(VerbsCommon.Get, "Mount", DefaultParameterSetName = CallerSet, HelpUri = HelpLinks.Docs + "Get-Mount.md")]
[OutputType(typeof(Mount))]
public sealed class GetMountCommand : MountTableCommand
{
    /// <summary>Mount points to list, as the namespace sees them; wildcards allowed.</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(MountPointCompleter))]
    public string[]? Path { get; set; }

    /// <summary>Filesystem types to list ("tmpfs", "fuse.*"); wildcards allowed.</summary>
    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(FileSystemTypeCompleter))]
    public string[]? FileSystemType { get; set; }

    protected override void BeginProcessing() => Preconditions.RequireLinux(this);

    protected override void ProcessRecord()
    {
        if (!TryReadTable(out ContainerNamespace? ns, out IReadOnlyList<MountEntry> table))
        {
            return;
        }

        var paths = Path?.Select(p => new Filter(p)).ToList();
        var types = FileSystemType?.Select(t => new Filter(t)).ToList();
        // One WriteObject for the whole table: the engine's per-call checks then run once, not ten thousand times.
        var mounts = new List<Mount>(table.Count);
        foreach (MountEntry entry in table)
        {
            if (Matches(paths, entry.MountPoint) && Matches(types, entry.FileSystemType))
            {
                mounts.Add(new Mount(entry, ns));
            }
        }

        WriteObject(mounts, enumerateCollection: true);

        foreach (Filter missing in paths?.Where(p => p.IsLiteral && !p.Matched) ?? Enumerable.Empty<Filter>())
        {
            WriteError(MountErrors.Plain(ErrorId.MountNotFound, ErrorCategory.ObjectNotFound, missing.Text,
                $"No mount point is '{missing.Text}' {MountLocator.Where(ns)}.", "List the mount points with Get-Mount, or use a wildcard."));
        }
    }

    private static bool Matches(List<Filter>? filters, string value)
    {
        if (filters is null)
        {
            return true;
        }

        bool any = false;
        foreach (Filter filter in filters)
        {
            if (filter.Pattern.IsMatch(value))
            {
                filter.Matched = true;
                any = true;
            }
        }

        return any;
    }

    /// <summary>A case-sensitive pattern (Linux paths and type names are); a literal mount point without its trailing slash.</summary>
    private sealed class Filter
    {
        internal Filter(string text)
        {
            Text = text;
            IsLiteral = !WildcardPattern.ContainsWildcardCharacters(text);
            string normalized = IsLiteral && text.Length > 1 ? text.TrimEnd('/') : text;
            Pattern = WildcardPattern.Get(normalized.Length == 0 ? "/" : normalized, WildcardOptions.None);
        }

        internal string Text { get; }

        internal bool IsLiteral { get; }

        internal WildcardPattern Pattern { get; }

        internal bool Matched { get; set; }
    }
}
