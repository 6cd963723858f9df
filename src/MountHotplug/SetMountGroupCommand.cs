using System.Management.Automation;
using System.Runtime.InteropServices;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>Set-MountGroup: adds a mount to the peer group of another (MOVE_MOUNT_SET_GROUP), also across namespaces.</summary>
[Cmdlet(VerbsCommon.Set, "MountGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(MountInfo))]
public sealed class SetMountGroupCommand : PSCmdlet
{
    /// <summary>The mount whose peer group (or master) Target joins.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public MountReference Source { get; set; } = null!;

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNull]
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
        Preconditions.Require(this, KernelFeature.MoveMount, KernelFeature.OpenAt2, KernelFeature.MoveMountSetGroup);

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

        if (PassThru && target.Inspect().Mount is { } row)
        {
            WriteObject(row);
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

    private MountSide? OpenSide(MountReference reference, ContainerNamespace? ns, string role)
    {
        string notFoundId = role + "NotFound";
        if (reference.StagedMount is { } staged)
        {
            try
            {
                return new MountSide($"the staged mount of '{staged.Source}'", staged.Handle, ownsHandle: false, processId: null, detached: true);
            }
            catch (InvalidOperationException ex)
            {
                WriteError(MountErrors.Plain(notFoundId, ErrorCategory.InvalidArgument, staged, ex.Message,
                    "Name an attached mount by its path and namespace instead."));
                return null;
            }
        }

        string path = reference.Path!;
        string where = ns is null ? "this namespace" : $"the mount namespace of PID {ns.ProcessId}";
        try
        {
            if (ns is null)
            {
                string hostPath = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
                if (TargetPath.TextProblem(hostPath) is { } problem)
                {
                    WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, path, $"{role} '{path}': the path {problem}."));
                    return null;
                }

                return new MountSide($"'{hostPath}' in {where}", MountSyscalls.Open(hostPath, OpenFlags.Path), ownsHandle: true, processId: null, detached: false);
            }

            IReadOnlyList<string> components = TargetPath.TrySplit(path, out string? reason)
                ?? throw new HotplugException(HotplugFailure.InvalidTarget, path, $"Invalid path '{path}': {reason}.");
            using SafePathHandle root = ContainerMounter.OpenProcessRoot(ns.Pidfd, ns.ProcessId, path);
            SafePathHandle handle = MountSyscalls.OpenAt2(root, TargetPath.Join(components), OpenFlags.Path, ContainerTarget.InRoot, path);
            return new MountSide($"'{path}' in {where}", handle, ownsHandle: true, processId: ns.ProcessId, detached: false);
        }
        catch (HotplugException ex)
        {
            WriteError(MountErrors.Plain(ex.Failure == HotplugFailure.ContainerExited ? "ContainerExited" : "InvalidPath",
                ex.Failure == HotplugFailure.ContainerExited ? ErrorCategory.ObjectNotFound : ErrorCategory.InvalidArgument, path, ex.Message));
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, notFoundId, path, $"{role} '{path}' in {where} cannot be opened"));
        }
        catch (ObjectDisposedException)
        {
            WriteError(MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, ns, $"The ContainerNamespace of PID {ns?.ProcessId} has been disposed."));
        }

        return null;
    }

    /// <summary>One side of the call: a descriptor and what is needed to explain a refusal.</summary>
    private sealed class MountSide : IDisposable
    {
        private readonly bool _ownsHandle;
        private readonly int? _processId;
        private readonly bool _detached;

        internal MountSide(string description, SafeDescriptorHandle handle, bool ownsHandle, int? processId, bool detached)
        {
            Description = description;
            Handle = handle;
            _ownsHandle = ownsHandle;
            _processId = processId;
            _detached = detached;
        }

        internal string Description { get; }

        internal SafeDescriptorHandle Handle { get; }

        /// <summary>Reads this side's mountinfo row, found by the mount id statx gives for the descriptor.</summary>
        internal SetGroupSide Inspect()
        {
            if (_detached)
            {
                return new SetGroupSide(Description, null, IsMountRoot: true, IsDetached: true);
            }

            StatxInfo info = MountSyscalls.Statx(Handle, Description, uniqueMountId: false);
            MountInfo? row = MountInfoParser.Read(_processId).FirstOrDefault(m => (ulong)m.MountId == info.MountId);
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
