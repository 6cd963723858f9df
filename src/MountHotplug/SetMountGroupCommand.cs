using System.Management.Automation;
using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>Set-MountGroup: adds a mount to the peer group of another (MOVE_MOUNT_SET_GROUP), also across namespaces.</summary>
[Cmdlet(VerbsCommon.Set, "MountGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.Docs + "Set-MountGroup.md")]
[OutputType(typeof(Mount))]
public sealed class SetMountGroupCommand : PSCmdlet
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
        using MountSide? source = OpenSide(Source, SourceNamespace, "Source");
        if (source is null)
        {
            return;
        }

        using MountSide? target = OpenSide(Target, TargetNamespace, "Target");
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
            MountSyscalls.MoveMount(source.Handle, target.Handle, MoveMountFlags.SetGroup, source.Description, target.Description);
            WriteVerbose($"move_mount(fd {source.Handle.DescriptorNumber}, \"\", fd {target.Handle.DescriptorNumber}, \"\", F_EMPTY_PATH|T_EMPTY_PATH|SET_GROUP) = 0");
        }
        catch (SyscallException ex) when (ex.Errno == Errno.EINVAL)
        {
            (SetGroupCondition condition, string explanation) = SetGroupDiagnosis.Explain(source.Inspect(), target.Inspect());
            WriteError(MountErrors.Plain(ErrorIdOf(condition), ErrorCategory.InvalidOperation, Target,
                $"Could not join {target.Description} to the peer group of {source.Description}: move_mount(MOVE_MOUNT_SET_GROUP) returned EINVAL (22). {explanation}"));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "SetGroupFailed", Target, $"Could not join {target.Description} to the peer group of {source.Description}"));
            return;
        }

        if (PassThru)
        {
            PassThruTarget(target);
        }
    }

    /// <summary>The Target as Get-Mount shows it now; a staged Target is in no mount table yet and has nothing to show.</summary>
    private void PassThruTarget(MountSide target)
    {
        if (target.IsDetached)
        {
            WriteVerbose($"{target.Description} is not attached, so it has no mount table entry to pass through.");
            return;
        }

        try
        {
            if (MountLocator.Describe(target.Handle, target.Namespace) is { } mount)
            {
                WriteObject(mount);
            }
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "ReadMountTableFailed", Target, $"Could not read {target.Description} back"));
        }
    }

    internal static string ErrorIdOf(SetGroupCondition condition) => condition switch
    {
        SetGroupCondition.SourceNotMounted or SetGroupCondition.TargetNotMounted => "SetGroupNotMounted",
        SetGroupCondition.SourceNotMountRoot or SetGroupCondition.TargetNotMountRoot => "SetGroupNotMountRoot",
        SetGroupCondition.DifferentFilesystem => "SetGroupDifferentFilesystem",
        SetGroupCondition.RootNotInside => "SetGroupRootNotInside",
        SetGroupCondition.TargetNotPrivate => "SetGroupTargetNotPrivate",
        SetGroupCondition.SourcePrivate => "SetGroupSourcePrivate",
        SetGroupCondition.LockedChildren => "SetGroupLockedChildren",
        _ => "SetGroupFailed",
    };

    private MountSide? OpenSide(MountReference reference, ContainerNamespace? explicitNamespace, string role)
    {
        string notFoundId = role + "NotFound";
        if (reference.StagedMount is { } staged)
        {
            try
            {
                return new MountSide($"the staged mount of '{staged.Source}'", staged.Handle, ownsHandle: false, namespaceOf: null, detached: true);
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
                WriteError(MountErrors.Plain("NamespaceConflict", ErrorCategory.InvalidArgument, listed.MountPoint,
                    $"{role} is the mount at '{listed.MountPoint}' listed {MountLocator.Where(listed.Namespace)}, but -{role}Namespace names PID {explicitNamespace.ProcessId}.",
                    $"Leave out -{role}Namespace: a mount from Get-Mount carries its namespace."));
                return null;
            }

            ns = listed.Namespace;
        }

        string path = reference.Path!;
        SafePathHandle handle;
        string shown;
        try
        {
            handle = CmdletLookups.Open(this, path, ns, out shown);
        }
        catch (Exception ex) when (MountErrors.FromLocate(ex, notFoundId, path, ns, role) is { } error)
        {
            WriteError(error);
            return null;
        }

        if (reference.Mount is { } mount && MountLocator.Mismatch(handle, mount) is { } why)
        {
            handle.Dispose();
            WriteError(MountErrors.Plain("MountChanged", ErrorCategory.InvalidOperation, path, $"{role}: {why}", "List the mounts again with Get-Mount."));
            return null;
        }

        return new MountSide($"'{shown}' {MountLocator.Where(ns)}", handle, ownsHandle: true, namespaceOf: ns, detached: false);
    }

    /// <summary>One side of the call: a descriptor and what is needed to explain a refusal.</summary>
    private sealed class MountSide : IDisposable
    {
        private readonly bool _ownsHandle;

        internal MountSide(string description, SafeDescriptorHandle handle, bool ownsHandle, ContainerNamespace? namespaceOf, bool detached)
        {
            Description = description;
            Handle = handle;
            _ownsHandle = ownsHandle;
            Namespace = namespaceOf;
            IsDetached = detached;
        }

        internal string Description { get; }

        internal SafeDescriptorHandle Handle { get; }

        /// <summary>The namespace the path was resolved in; null for the caller's own (or a staged mount).</summary>
        internal ContainerNamespace? Namespace { get; }

        internal bool IsDetached { get; }

        /// <summary>Reads this side's mountinfo row, found by the mount id statx gives for the descriptor.</summary>
        internal SetGroupSide Inspect()
        {
            if (IsDetached)
            {
                return new SetGroupSide(Description, null, IsMountRoot: true, IsDetached: true);
            }

            StatxInfo info = MountSyscalls.Statx(Handle, Description, uniqueMountId: false);
            MountInfo? row = MountInfoParser.Read(Namespace?.ProcessId).FirstOrDefault(m => (ulong)m.MountId == info.MountId);
            return new SetGroupSide(Description, row, info.IsMountRoot);
        }

        public void Dispose()
        {
            if (_ownsHandle)
            {
                Handle.Dispose();
            }
        }
    }
}
