using System.Diagnostics;
using System.Management.Automation;

namespace MountHotplug;

/// <summary>Move-MountIntoNamespace: attaches staged mounts at a path inside a running container.</summary>
[Cmdlet(VerbsCommon.Move, "MountIntoNamespace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = AttachSet, HelpUri = HelpLinks.Docs + "Move-MountIntoNamespace.md")]
[OutputType(typeof(StagedMount))]
public sealed class MoveMountIntoNamespaceCommand : MountCmdlet
{
    private const string AttachSet = "Attach";
    private const string ReplaceSet = "Replace";

    private ContainerSession? _session;
    private int _attached;
    private int _failed;

    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [Alias("InputObject")]
    [ValidateNotNull]
    [LocalObjectTransformation]
    public StagedMount[] Mount { get; set; } = Array.Empty<StagedMount>();

    [Parameter(Mandatory = true)]
    [ValidateNotNull]
    [LocalObjectTransformation]
    public ContainerNamespace Namespace { get; set; } = null!;

    /// <summary>
    /// Absolute path inside the container, resolved within the container process's own root. Bound per pipeline item,
    /// so a script block gives each mount its own target in ONE pipeline (one namespace entry):
    /// -Target { "/mnt/" + (Split-Path $_.Source -Leaf) }.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [AllowNull] // a staged mount whose input row had no Target: an error for that mount alone, not for the pipeline
    [ArgumentCompleter(typeof(TargetPathCompleter))]
    public string? Target { get; set; } = string.Empty;

    [Parameter(ParameterSetName = AttachSet)]
    public SwitchParameter CreateTarget { get; set; }

    /// <summary>Allow stacking on a target that is already a mount point.</summary>
    [Parameter(ParameterSetName = AttachSet)]
    public SwitchParameter Force { get; set; }

    /// <summary>Swap the mount at an existing mount point atomically (MOVE_MOUNT_BENEATH, then detach the old top).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ReplaceSet)]
    public SwitchParameter Replace { get; set; }

    /// <summary>
    /// Lock the mount's read-only, nosuid, nodev and noexec flags against the container's root (a container with its own
    /// user namespace; the staged mount must be read-only). Sealer has the how and what it does not stop.
    /// </summary>
    [Parameter]
    public SwitchParameter Seal { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        Preconditions.Require(this, Requirements.MoveMountIntoNamespace);
        if (Replace)
        {
            Preconditions.RequireFeatures(this, "-Replace", Requirements.MoveMountIntoNamespaceReplace);
        }

        if (Seal)
        {
            Preconditions.RequireFeatures(this, "-Seal", Requirements.MoveMountIntoNamespaceSeal);
            if (!Namespace.HasOwnUserNamespace)
            {
                // Root of the host's user namespace can clear any flag on any mount: there is nobody to seal against.
                ThrowTerminatingError(MountErrors.Plain(ErrorId.SealNeedsOwnUserNamespace, ErrorCategory.InvalidOperation, Namespace,
                    $"PID {Namespace.ProcessId} runs in the host's user namespace (a privileged container): its root holds every capability the host's root does, so no mount flag can be locked against it.",
                    "Drop -Seal, or run the container unprivileged (its own user namespace, e.g. lxc.idmap)."));
            }
        }

        try
        {
            _session = Namespace.Session;
        }
        catch (ObjectDisposedException)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, Namespace,
                $"The ContainerNamespace of PID {Namespace.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
            return;
        }

        if (Namespace.HasOwnUserNamespace)
        {
            try
            {
                _maps = Namespace.ReadIdMaps();
                WriteVerbose($"PID {Namespace.ProcessId} runs in user namespace {Namespace.UserNamespaceId}: uid_map {_maps.UidText}");
            }
            catch (Exception ex) when (ex is SyscallException or IOException or FormatException or UnauthorizedAccessException)
            {
                // An exited container fails the move itself with ContainerExited; without its maps only the ownership hints are lost.
                WriteVerbose($"Could not read the id maps of PID {Namespace.ProcessId}: {ex.Message}");
            }
        }
    }

    private IdMaps? _maps;

    protected override void ProcessRecord()
    {
        foreach (StagedMount mount in Mount)
        {
            AttachOne(mount);
        }
    }

    protected override void EndProcessing()
    {
        if (_attached + _failed > 1)
        {
            // The last count, which the throttled updates may have skipped, goes with the completion.
            WriteProgress(new ProgressRecord(ProgressActivityId, "Move-MountIntoNamespace", ProgressStatus()) { RecordType = ProgressRecordType.Completed });
        }
    }

    private const int ProgressActivityId = 0x6d68;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(100);
    private long _lastProgress;

    private void Fail(ErrorRecord error)
    {
        _failed++;
        WriteError(error);
        ReportProgress();
    }

    // A pipeline does not say how many mounts are coming, so progress counts instead of showing a percentage. It is
    // reported at most every 100 ms: nobody reads faster, and a record per mount cost the pipeline more than the move.
    private void ReportProgress()
    {
        long now = Stopwatch.GetTimestamp();
        if (_attached + _failed > 1 && Stopwatch.GetElapsedTime(_lastProgress, now) >= ProgressInterval)
        {
            _lastProgress = now;
            WriteProgress(new ProgressRecord(ProgressActivityId, "Move-MountIntoNamespace", ProgressStatus()) { PercentComplete = -1, CurrentOperation = Target });
        }
    }

    private string ProgressStatus() => $"{_attached} attached, {_failed} failed in PID {Namespace.ProcessId}";

    /// <summary>What the container's processes will see of the mount's owners, when that is not what one would want.</summary>
    internal string? OwnershipWarning(StagedMount mount, string target)
    {
        if (mount.IdMapUserNamespaceId is { } idmap)
        {
            return idmap == Namespace.UserNamespaceId
                ? null
                : $"The mount at {target} is idmapped through user namespace {idmap}, but PID {Namespace.ProcessId} runs in user namespace {Namespace.UserNamespaceId}: its files show with the ids of the other namespace's map.";
        }

        if (_maps is null)
        {
            return $"Files at {target} owned by host ids that PID {Namespace.ProcessId}'s user namespace does not map will show as nobody ({IdMapping.OverflowUid}); stage with New-StagedMount -IdMap to map them.";
        }

        bool uidMapped = IdMaps.FromHost(_maps.Uid, mount.Stat().Uid) is not null;
        bool gidMapped = IdMaps.FromHost(_maps.Gid, mount.Stat().Gid) is not null;
        if (uidMapped && gidMapped)
        {
            return null;
        }

        return $"Files at {target} will show as nobody ({IdMapping.OverflowUid}) inside PID {Namespace.ProcessId}: its source is owned by host uid {mount.Stat().Uid}, gid {mount.Stat().Gid}, which its user namespace (uid_map {_maps.UidText}) does not map, so root in the container cannot write there. Stage it with New-StagedMount -IdMap to have the container's root own it.";
    }

    private void AttachOne(StagedMount mount)
    {
        if (mount.GetState() != StagedMountState.Staged)
        {
            WriteError(MountErrors.Plain(ErrorId.MountNotStaged, ErrorCategory.InvalidOperation, mount,
                $"The mount of '{mount.Source}' is {mount.State.ToLowerInvariant()}{(mount.Target is null ? string.Empty : $" at '{mount.Target}'")}; only a staged mount can be attached.",
                "Stage it again with New-StagedMount."));
            return;
        }

        // Null only from a staged mount whose row had no target; an explicit -Target '' stays an InvalidTarget.
        if (Target is null)
        {
            Fail(MountErrors.Plain(ErrorId.TargetMissing, ErrorCategory.InvalidArgument, mount.Source,
                $"No target for the staged mount of '{mount.Source}': -Target was not given, and the mount's input row had no Target; it was not attached.",
                "Give the row a Target column, or give -Target (a script block computes one per mount)."));
            return;
        }

        string what = mount.FileSystem is null ? $"the staged mount of {mount.Source}" : $"the new {mount.FileSystem} mount of {mount.Source}";
        string description = Replace
            ? $"Replace the mount at {Target} with {what} ({mount.Attributes}, {mount.Propagation.ToLowerInvariant()}): "
              + $"enter mount namespace {Namespace.MountNamespaceId} of PID {Namespace.ProcessId} ({Namespace.ProcessName}), "
              + "move it beneath the mount on top there (MOVE_MOUNT_BENEATH), then detach the old one"
            : $"Attach {what} ({mount.Attributes}, {mount.Propagation.ToLowerInvariant()}): "
              + $"enter mount namespace {Namespace.MountNamespaceId} of PID {Namespace.ProcessId} ({Namespace.ProcessName}), "
              + $"mount at {Target}{(CreateTarget ? " (creating what is missing)" : string.Empty)}{(Force ? " (stacking allowed)" : string.Empty)}";
        if (Seal)
        {
            description += $", sealed first: copied by mhp-seal through user namespace {Namespace.UserNamespaceId}, so that its flags are locked";
        }

        string question = Replace
            ? $"Replace the mount at {Target} inside PID {Namespace.ProcessId} with {mount.Source}?"
            : $"Attach {mount.Source} at {Target} inside PID {Namespace.ProcessId}?";
        if (!ShouldProcess(description, question, "Move-MountIntoNamespace"))
        {
            return;
        }

        if (Seal && !mount.ReadOnly)
        {
            Fail(MountErrors.Plain(ErrorId.SealNeedsReadOnly, ErrorCategory.InvalidArgument, mount.Source,
                $"The staged mount of '{mount.Source}' is not read-only; -Seal locks a read-only mount against the container's root.",
                "Stage it with New-StagedMount -ReadOnly (and -NoSuid, -NoDev, -NoExec to lock those too)."));
            return;
        }

        AttachResult result;
        try
        {
            // Created directories belong to the container's root, as Proxmox does it: owned by host root they would show
            // as nobody inside a user namespace, and its root could not use them. The session records where the mount
            // went in the staged mount before it returns: from here on the object says where its mount is, whatever
            // happens to the rest of the pipeline (WriteProgress throws on Ctrl+C).
            result = _session!.Attach(mount, Target!, new AttachOptions
            {
                CreateTarget = CreateTarget,
                AllowStacking = Force,
                Replace = Replace,
                Seal = Seal,
                CreateOwner = CreateTarget ? _maps?.RootOnHost : null,
            }, Trace);
        }
        catch (SealException ex)
        {
            Fail(MountErrors.FromSeal(ex, mount.Source));
            return;
        }
        // The error names the source path, not the StagedMount: $Error would otherwise keep its descriptor open
        // for the rest of the session after the pipeline that dropped it has ended.
        catch (HotplugException ex)
        {
            // A target problem is about the path inside the container, a gone container about the container, the rest
            // (the namespace, the move) about the source.
            object concerned = MountErrors.IsTargetProblem(ex.Failure) ? new ContainerPath(ex.Target, Namespace)
                : ex.Failure == HotplugFailure.ContainerExited ? Namespace
                : mount.Source;
            Fail(MountErrors.FromHotplug(ex, concerned));
            return;
        }
        catch (SyscallException ex)
        {
            Fail(MountErrors.FromSyscall(ex, ErrorId.MoveMountFailed, mount.Source, $"Could not attach '{mount.Source}' at '{Target}'"));
            return;
        }
        catch (ObjectDisposedException) when (Namespace.IsDisposed)
        {
            // Disposed by the pipeline itself (or another runspace) after BeginProcessing checked it: without its
            // pidfd nothing proves the process is still the container, so no further item is attached.
            Fail(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, mount.Source,
                $"The ContainerNamespace of PID {Namespace.ProcessId} was disposed while this pipeline still used it; '{mount.Source}' was not attached.",
                "Dispose the ContainerNamespace after the pipeline that uses it, and get a new one with Get-ContainerNamespace."));
            return;
        }

        // Recorded before anything that talks to the engine (WriteProgress throws on Ctrl+C): from here on the object
        // says where its mount is, whatever happens to the rest of the pipeline.
        _attached++;
        ReportProgress();
        if (Namespace.HasOwnUserNamespace)
        {
            WriteWarning(Seal
                ? $"{result.Target} is sealed: root inside PID {Namespace.ProcessId} cannot clear its {mount.Attributes} flags, but it can still unmount or move it."
                : $"PID {Namespace.ProcessId} runs in its own user namespace: root inside it can unmount {result.Target} or clear its ro/nosuid/nodev flags (-Seal locks them).");
            if (OwnershipWarning(mount, result.Target) is { } warning)
            {
                WriteWarning(warning);
            }
        }

        if (PassThru)
        {
            WriteObject(mount);
        }
    }
}
