using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>Move-MountIntoNamespace: attaches staged mounts at a path inside a running container.</summary>
[Cmdlet(VerbsCommon.Move, "MountIntoNamespace", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(StagedMount))]
public sealed class MoveMountIntoNamespaceCommand : PSCmdlet, IDisposable
{
    private ContainerMounter? _mounter;
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

    /// <summary>Absolute path inside the container, resolved within the container process's own root.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [AllowEmptyString]
    [ArgumentCompleter(typeof(TargetPathCompleter))]
    public string Target { get; set; } = string.Empty;

    [Parameter]
    public SwitchParameter CreateTarget { get; set; }

    /// <summary>Allow stacking on a target that is already a mount point.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        Preconditions.Require(this, KernelFeature.OpenTree, KernelFeature.MoveMount, KernelFeature.OpenAt2, KernelFeature.PidfdOpen);
        SafePidfdHandle pidfd;
        try
        {
            pidfd = Namespace.Pidfd;
        }
        catch (ObjectDisposedException)
        {
            ThrowTerminatingError(MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, Namespace,
                $"The ContainerNamespace of PID {Namespace.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
            return;
        }

        _mounter = new ContainerMounter(pidfd, Namespace.ProcessId) { Trace = WriteVerbose };
    }

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
            WriteProgress(new ProgressRecord(ProgressActivityId, "Move-MountIntoNamespace", "Done") { RecordType = ProgressRecordType.Completed });
        }

        Dispose();
    }

    private const int ProgressActivityId = 0x6d68;

    // No StopProcessing: it runs on another thread while ProcessRecord may be inside Attach, and ending the namespace
    // thread under it left created directories and unreported mounts behind (and a second thread started afterwards
    // was never ended). Every step here is a short system call, and the next WriteVerbose, WriteObject or ShouldProcess
    // throws PipelineStoppedException; Attach undoes what it had begun, and the engine then calls Dispose.

    /// <summary>Ends the namespace thread: it is never reused for another pipeline.</summary>
    public void Dispose()
    {
        _mounter?.Dispose();
        _mounter = null;
    }

    // A pipeline does not say how many mounts are coming, so progress counts instead of showing a percentage.
    private void ReportProgress()
    {
        if (_attached + _failed > 1)
        {
            WriteProgress(new ProgressRecord(ProgressActivityId, "Move-MountIntoNamespace",
                $"{_attached} attached, {_failed} failed in PID {Namespace.ProcessId}") { PercentComplete = -1, CurrentOperation = Target });
        }
    }

    private void AttachOne(StagedMount mount)
    {
        if (mount.State != StagedMountState.Staged)
        {
            WriteError(MountErrors.Plain("MountNotStaged", ErrorCategory.InvalidOperation, mount,
                $"The mount of '{mount.Source}' is {mount.State.ToString().ToLowerInvariant()}{(mount.Target is null ? string.Empty : $" at '{mount.Target}'")}; only a staged mount can be attached.",
                "Stage it again with New-StagedMount."));
            return;
        }

        string description = $"Attach the staged mount of {mount.Source} ({mount.Attributes}, {mount.Propagation.ToString().ToLowerInvariant()}): "
            + $"enter mount namespace {Namespace.MountNamespaceId} of PID {Namespace.ProcessId} ({Namespace.ProcessName}), "
            + $"mount at {Target}{(CreateTarget ? " (creating what is missing)" : string.Empty)}{(Force ? " (stacking allowed)" : string.Empty)}";
        if (!ShouldProcess(description, $"Attach {mount.Source} at {Target} inside PID {Namespace.ProcessId}?", "Move-MountIntoNamespace"))
        {
            return;
        }

        AttachResult result;
        try
        {
            result = _mounter!.Attach(mount.Handle, mount.Info, Target, CreateTarget, Force);
        }
        // The error names the source path, not the StagedMount: $Error would otherwise keep its descriptor open
        // for the rest of the session after the pipeline that dropped it has ended.
        catch (HotplugException ex)
        {
            _failed++;
            WriteError(MountErrors.FromHotplug(ex, mount.Source));
            ReportProgress();
            return;
        }
        catch (SyscallException ex)
        {
            _failed++;
            WriteError(MountErrors.FromSyscall(ex, "MoveMountFailed", mount.Source, $"Could not attach '{mount.Source}' at '{Target}'"));
            ReportProgress();
            return;
        }
        catch (ObjectDisposedException) when (Namespace.IsDisposed)
        {
            // Disposed by the pipeline itself (or another runspace) after BeginProcessing checked it: without its
            // pidfd nothing proves the process is still the container, so no further item is attached.
            _failed++;
            WriteError(MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, mount.Source,
                $"The ContainerNamespace of PID {Namespace.ProcessId} was disposed while this pipeline still used it; '{mount.Source}' was not attached.",
                "Dispose the ContainerNamespace after the pipeline that uses it, and get a new one with Get-ContainerNamespace."));
            ReportProgress();
            return;
        }

        // Recorded before anything that talks to the engine (WriteProgress throws on Ctrl+C): from here on the object
        // says where its mount is, whatever happens to the rest of the pipeline.
        mount.MarkAttached(result.Target, Namespace);
        _attached++;
        ReportProgress();
        if (Namespace.HasOwnUserNamespace)
        {
            WriteWarning($"PID {Namespace.ProcessId} runs in its own user namespace: root inside it can unmount {result.Target} or clear its ro/nosuid/nodev flags, and files owned by unmapped host ids show as nobody (65534).");
        }

        if (PassThru)
        {
            WriteObject(mount);
        }
    }
}
