using System.Management.Automation;
using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>Set-MountGroup: adds a mount to the peer group of another (MOVE_MOUNT_SET_GROUP), also across namespaces.</summary>
[Cmdlet(VerbsCommon.Set, "MountGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.Docs + "Set-MountGroup.md")]
[OutputType(typeof(Mount))]
public sealed class SetMountGroupCommand : MountCmdlet, IDisposable
{
    /// <summary>The mount whose peer group (or master) Target joins.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(NamespacePathCompleter))]
    public MountReference Source { get; set; } = null!;

    /// <summary>The mount that joins; from the pipeline too (a path, a staged mount or a Get-Mount object).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(NamespacePathCompleter))]
    public MountReference Target { get; set; } = null!;

    [Parameter]
    [LocalObjectTransformation]
    public ContainerNamespace? SourceNamespace { get; set; }

    [Parameter]
    [LocalObjectTransformation]
    public ContainerNamespace? TargetNamespace { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing() =>
        Preconditions.Require(this, Requirements.SetMountGroup);

    protected override void ProcessRecord()
    {
        using MountPoint? source = OpenSide(Source, SourceNamespace, "Source");
        if (source is null)
        {
            return;
        }

        using MountPoint? target = OpenSide(Target, TargetNamespace, "Target");
        if (target is null)
        {
            return;
        }

        if (!ShouldProcess($"join {target.Description} to the peer group of {source.Description} (move_mount MOVE_MOUNT_SET_GROUP)",
                $"Join {target.Description} to the peer group of {source.Description}?", "Set-MountGroup"))
        {
            return;
        }

        try
        {
            MountPoint.JoinGroup(source, target, Trace);
        }
        catch (SetGroupException ex)
        {
            WriteError(MountErrors.Build(ex, ErrorIdOf(ex.Condition), ErrorCategory.InvalidOperation, Target, ex.Message, null));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.SetGroupFailed, Target, $"Could not join {target.Description} to the peer group of {source.Description}"));
            return;
        }

        if (PassThru)
        {
            PassThruTarget(target);
        }
    }

    /// <summary>The Target as Get-Mount shows it now; a staged Target is in no mount table yet and has nothing to show.</summary>
    private void PassThruTarget(MountPoint target)
    {
        if (target.IsDetached)
        {
            WriteVerbose($"{target.Description} is not attached, so it has no mount table entry to pass through.");
            return;
        }

        try
        {
            if (target.Describe() is { } mount)
            {
                WriteObject(mount);
            }
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.ReadMountTableFailed, Target, $"Could not read {target.Description} back"));
        }
    }

    internal static ErrorId ErrorIdOf(SetGroupCondition condition) => condition switch
    {
        SetGroupCondition.SourceNotMounted or SetGroupCondition.TargetNotMounted => ErrorId.SetGroupNotMounted,
        SetGroupCondition.SourceNotMountRoot or SetGroupCondition.TargetNotMountRoot => ErrorId.SetGroupNotMountRoot,
        SetGroupCondition.DifferentFilesystem => ErrorId.SetGroupDifferentFilesystem,
        SetGroupCondition.RootNotInside => ErrorId.SetGroupRootNotInside,
        SetGroupCondition.TargetNotPrivate => ErrorId.SetGroupTargetNotPrivate,
        SetGroupCondition.SourcePrivate => ErrorId.SetGroupSourcePrivate,
        SetGroupCondition.LockedChildren => ErrorId.SetGroupLockedChildren,
        _ => ErrorId.SetGroupFailed,
    };

    private MountPoint? OpenSide(MountReference reference, ContainerNamespace? explicitNamespace, string role)
    {
        ErrorId notFoundId = role == "Source" ? ErrorId.SourceNotFound : ErrorId.TargetNotFound;
        if (reference.StagedMount is { } staged)
        {
            try
            {
                return MountPoint.Of(staged);
            }
            catch (InvalidOperationException ex)
            {
                WriteError(MountErrors.Plain(notFoundId, ErrorCategory.InvalidArgument, staged, ex.Message,
                    "Name an attached mount by its path and namespace instead."));
                return null;
            }
        }

        // A Get-Mount object names its own namespace; a -SourceNamespace/-TargetNamespace that says otherwise is a mistake.
        ContainerNamespace? ns = explicitNamespace;
        if (reference.Mount is { } listed)
        {
            if (explicitNamespace is not null && explicitNamespace.ProcessId != listed.Namespace?.ProcessId)
            {
                WriteError(MountErrors.Plain(ErrorId.NamespaceConflict, ErrorCategory.InvalidArgument, listed.MountPoint,
                    $"{role} is the mount at '{listed.MountPoint}' listed {MountLocator.Where(listed.Namespace)}, but -{role}Namespace names PID {explicitNamespace.ProcessId}.",
                    $"Leave out -{role}Namespace: a mount from Get-Mount carries its namespace."));
                return null;
            }

            ns = listed.Namespace;
        }

        string path = reference.Path!;
        if (reference.Mount is not null && ns is { IsDisposed: true } disposed)
        {
            // A Get-Mount object that outlived its ContainerNamespace: the same container, proven again. A -SourceNamespace
            // or -TargetNamespace disposed by the caller stays an error.
            ns = Repins.Repin(disposed.ProcessId, disposed.ProcessStartTime, disposed.MountNamespaceId, path);
            if (ns is null)
            {
                return null;
            }
        }

        MountPoint opened;
        try
        {
            opened = CmdletLookups.Open(this, path, ns);
        }
        catch (Exception ex) when (MountErrors.FromLocate(ex, notFoundId, path, ns, role) is { } error)
        {
            WriteError(error);
            return null;
        }

        if (reference.Mount is { } mount && opened.Mismatch(mount) is { } why)
        {
            opened.Dispose();
            WriteError(MountErrors.Plain(ErrorId.MountChanged, ErrorCategory.InvalidOperation, path, $"{role}: {why}", "List the mounts again with Get-Mount."));
            return null;
        }

        return opened;
    }

    private Repinner? _repins;

    private Repinner Repins => _repins ??= new Repinner(this, "join", "Nothing was changed.");

    public void Dispose() => _repins?.Dispose();
}
