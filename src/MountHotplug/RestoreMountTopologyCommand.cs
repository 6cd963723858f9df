using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Restore-MountTopology: rebuilds an exported mount layout under a directory of a mount namespace, in the order of CRIU's
/// mount-v2 (private mounts, the tree, then the sharing groups top-down with MOVE_MOUNT_SET_GROUP).
/// </summary>
[Cmdlet(VerbsData.Restore, "MountTopology", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.Docs + "Restore-MountTopology.md")]
[OutputType(typeof(Mount))]
public sealed class RestoreMountTopologyCommand : MountCmdlet
{
    /// <summary>The layout: what Export-MountTopology wrote (a JSON string converts to it).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public MountTopology Topology { get; set; } = null!;

    /// <summary>The existing directory that takes the place of the exported root.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespacePathCompleter))]
    public string Destination { get; set; } = string.Empty;

    [Parameter]
    public ContainerNamespace? Namespace { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing() =>
        Preconditions.Require(this, Requirements.RestoreMountTopology);

    protected override void ProcessRecord()
    {
        ContainerNamespace? ns = Namespace;
        string where = MountLocator.Where(ns);
        try
        {
            Topology.Validate();
        }
        catch (FormatException ex)
        {
            WriteError(ToError(new RestoreException(RestoreFailure.InvalidTopology, Topology.Root ?? string.Empty, ex.Message)));
            return;
        }

        int groups = Topology.PeerGroups().Count;
        if (!ShouldProcess($"restore {Topology.Mounts.Count} mount(s) in {groups} peer group(s) from '{Topology.Root}' under '{Destination}' {where}",
                $"Restore {Topology.Mounts.Count} mount(s) under '{Destination}' {where}?", "Restore-MountTopology"))
        {
            return;
        }

        if (CmdletLookups.TryReadTable(this, ns) is not { } table)
        {
            return;
        }

        IReadOnlyList<ulong> ids;
        try
        {
            using ContainerNamespace? self = ns is null ? ContainerNamespace.OpenCaller() : null;
            ids = (ns ?? self!).Session.Restore(Topology, Destination, table, Trace, WriteWarning);
        }
        catch (RestoreException ex)
        {
            WriteError(ToError(ex));
            return;
        }
        catch (HotplugException ex)
        {
            WriteError(MountErrors.FromHotplug(ex, Destination));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? ErrorId.ContainerExited : ErrorId.EnterNamespaceFailed, Destination,
                $"Could not restore under '{Destination}' {where}"));
            return;
        }
        catch (ObjectDisposedException ex)
        {
            WriteError(MountErrors.FromLocate(ex, ErrorId.RestoreFailed, Destination, ns, "Namespace")!);
            return;
        }

        Verify(ns, ids);
    }

    /// <summary>A restore is not assumed: the restored mounts are read back and compared, structurally, with the topology.</summary>
    private void Verify(ContainerNamespace? ns, IReadOnlyList<ulong> ids)
    {
        if (CmdletLookups.TryReadTable(this, ns) is not { } table)
        {
            return;
        }

        var restored = new HashSet<ulong>(ids);
        var mounts = table.Where(m => restored.Contains(m.MountId)).ToList();
        MountTopology result = MountTopology.Export(mounts, TargetPath.Join(TargetPath.TrySplit(Destination, out _)!));
        if (!result.StructurallyEquals(Topology))
        {
            WriteError(MountErrors.Plain(ErrorId.RestoreNotExact, ErrorCategory.InvalidResult, Destination,
                $"The mounts restored under '{Destination}' differ from the topology.\nExpected:\n{Topology.Describe()}Found:\n{result.Describe()}",
                "Something changed the namespace during the restore, or the layout needs an external master; the restored mounts are left for inspection."));
            return;
        }

        WriteVerbose($"verified: the {mounts.Count} restored mount(s) have the topology's layout");
        if (PassThru)
        {
            foreach (MountEntry entry in ids.Select(id => mounts.First(m => m.MountId == id)))
            {
                WriteObject(new Mount(entry, ns));
            }
        }
    }

    private static ErrorRecord ToError(RestoreException ex)
    {
        ErrorId id = ex.Failure switch
        {
            RestoreFailure.InvalidTopology => ErrorId.InvalidTopology,
            RestoreFailure.InvalidDestination => ErrorId.InvalidDestination,
            RestoreFailure.DestinationShared => ErrorId.DestinationShared,
            RestoreFailure.SourceNotFound => ErrorId.SourceNotFound,
            RestoreFailure.CreateFailed => ErrorId.CreateMountFailed,
            RestoreFailure.AttachFailed => ErrorId.AttachFailed,
            _ => ErrorId.SharingFailed,
        };
        ErrorCategory category = MountErrors.CategoryOf(ex.InnerException as SyscallException,
            ex.Failure switch
            {
                RestoreFailure.SourceNotFound => ErrorCategory.ObjectNotFound,
                RestoreFailure.InvalidTopology => ErrorCategory.InvalidData,
                _ => ErrorCategory.InvalidOperation,
            });
        string? hint = ex.Failure switch
        {
            RestoreFailure.DestinationShared => "Choose a destination on a private mount, or make that mount private first (Set-MountAttribute -Propagation Private).",
            RestoreFailure.SourceNotFound => "Mount the filesystem in the namespace first (bind mounts are restored from existing mounts), or export a layout of tmpfs mounts.",
            RestoreFailure.InvalidDestination => "Give an existing directory, as an absolute path without '..'.",
            RestoreFailure.InvalidTopology => "Nothing was mounted. Restore what Export-MountTopology wrote, or correct the entry the message names.",
            _ => "Nothing was left behind: the mounts attached so far were detached again.",
        };
        return MountErrors.Build(ex, id, category, ex.Path, ex.Message, hint);
    }
}
