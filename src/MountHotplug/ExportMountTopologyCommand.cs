using System.Management.Automation;

namespace MountHotplug;

/// <summary>Export-MountTopology: a namespace's mount tree, or a subtree, with its sharing layout, as JSON.</summary>
[Cmdlet(VerbsData.Export, "MountTopology", DefaultParameterSetName = CallerSet, HelpUri = HelpLinks.Docs + "Export-MountTopology.md")]
[OutputType(typeof(string))]
public sealed class ExportMountTopologyCommand : MountTableCommand
{
    /// <summary>The directory whose mounts (itself, if it is a mount point, and every mount below it) are exported.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespacePathCompleter))]
    public string Path { get; set; } = "/";

    /// <summary>Write the JSON to this file instead of the pipeline.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    protected override void BeginProcessing()
    {
        Preconditions.RequireLinux(this);
        if (Path[0] != '/' || Path.Split('/').Contains(".."))
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, Path,
                $"'{Path}' is not an absolute path without '..'; name the directory as the namespace sees it, like /srv/data."));
        }
    }

    protected override void ProcessRecord()
    {
        if (!TryReadTable(out ContainerNamespace? ns, out IReadOnlyList<MountEntry> table))
        {
            return;
        }

        MountTopology topology = MountTopology.Export(table, Path);
        if (topology.Mounts.Count == 0)
        {
            WriteError(MountErrors.Plain(ErrorId.MountNotFound, ErrorCategory.ObjectNotFound, Path,
                $"No mount is at or below '{Path}' {MountLocator.Where(ns)}.", "Get-Mount lists the mount points."));
            return;
        }

        WriteVerbose($"{topology.Mounts.Count} mount(s), {topology.PeerGroups().Count} peer group(s) at or below '{topology.Root}'");
        string json = topology.ToJson();
        if (OutFile is null)
        {
            WriteObject(json);
            return;
        }

        string file = SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutFile);
        try
        {
            File.WriteAllText(file, json + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteError(MountErrors.Build(ex, ErrorId.OutFileFailed, ErrorCategory.WriteError, OutFile, $"Could not write the topology to '{OutFile}': {ex.Message}", "Check that the directory exists and is writable."));
        }
    }
}
