using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>
/// Remove-Mount: unplugs a mount inside a running container (or the caller's own namespace). The unmount runs on a
/// thread inside that mount namespace, on the leaf name of an already resolved parent; a busy mount is refused with
/// the processes that hold it, unless -Lazy.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Mount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = InputObjectSet)]
public sealed class RemoveMountCommand : PSCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string InputObjectSet = "InputObject";

    // One namespace thread per namespace for the whole pipeline; ended with it.
    private readonly Dictionary<ContainerNamespace, ContainerMounter> _mounters = new(ReferenceEqualityComparer.Instance);
    private ContainerNamespace? _self;

    /// <summary>A mount attached by Move-MountIntoNamespace -PassThru: its Target, Namespace and mount id are used.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    [ValidateNotNull]
    public StagedMount[] InputObject { get; set; } = Array.Empty<StagedMount>();

    /// <summary>The mount point, an absolute path inside the namespace (bound by property name from MountPoint or Target).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
    [Alias("MountPoint", "Target")]
    [AllowNull]
    [AllowEmptyString]
    [ArgumentCompleter(typeof(MountPointCompleter))]
    public string? Path { get; set; }

    /// <summary>The container whose mount namespace holds the mount; $null for the caller's own namespace.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
    [AllowNull]
    public ContainerNamespace? Namespace { get; set; }

    /// <summary>Detach the mount even if it is busy (umount2 MNT_DETACH).</summary>
    [Parameter]
    public SwitchParameter Lazy { get; set; }

    /// <summary>Also remove the directories or empty file that Move-MountIntoNamespace -CreateTarget made.</summary>
    [Parameter]
    public SwitchParameter RemoveTarget { get; set; }

    protected override void BeginProcessing() => Preconditions.Require(this, Requirements.RemoveMount);

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet)
        {
            foreach (StagedMount mount in InputObject)
            {
                RemoveStaged(mount);
            }

            return;
        }

        if (string.IsNullOrEmpty(Path))
        {
            WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, Path,
                "No mount point was given (the input has an empty MountPoint or Target).", "Give -Path, or pipe a mount that is attached."));
            return;
        }

        RemoveOne(Path, Namespace, mount: null);
    }

    protected override void EndProcessing() => Dispose();

    protected override void StopProcessing() => Dispose();

    /// <summary>Ends the namespace threads: they are never reused for another pipeline.</summary>
    public void Dispose()
    {
        foreach (ContainerMounter mounter in _mounters.Values)
        {
            mounter.Dispose();
        }

        _mounters.Clear();
        _self?.Dispose();
        _self = null;
    }

    private void RemoveStaged(StagedMount mount)
    {
        if (mount.State != StagedMountState.Attached || mount.Target is null || mount.Namespace is null)
        {
            WriteError(MountErrors.Plain("MountNotAttached", ErrorCategory.InvalidOperation, mount.Source,
                $"The mount of '{mount.Source}' is {mount.State.ToString().ToLowerInvariant()}, not attached; there is nothing to unmount.",
                mount.State == StagedMountState.Staged ? "Dispose() it to dissolve a staged mount." : null));
            return;
        }

        RemoveOne(mount.Target, mount.Namespace, mount);
    }

    private void RemoveOne(string path, ContainerNamespace? ns, StagedMount? mount)
    {
        ContainerMounter? mounter = MounterFor(ns, path, out ContainerNamespace? effective);
        if (mounter is null)
        {
            return;
        }

        string where = ns is null
            ? $"this session's mount namespace {effective!.MountNamespaceId}"
            : $"mount namespace {ns.MountNamespaceId} of PID {ns.ProcessId} ({ns.ProcessName})";
        IReadOnlyList<string> created = mount?.CreatedPaths ?? Array.Empty<string>();
        string description = $"Unmount {path}{(mount is null ? string.Empty : $" (mount {mount.MountId} of {mount.Source})")} inside {where}"
            + (Lazy ? ", lazily (MNT_DETACH: it disappears now, and is released when nothing uses it any more)" : string.Empty)
            + (RemoveTarget && created.Count > 0 ? $", then remove {string.Join(", ", created.Reverse())} (created by Move-MountIntoNamespace)" : string.Empty);
        if (!ShouldProcess(description, $"Unmount {path} inside PID {effective!.ProcessId}?", "Remove-Mount"))
        {
            return;
        }

        UnmountResult result;
        try
        {
            // A StagedMount knows which mount it attached: only that one is taken, never one stacked on it since.
            result = mounter.Unmount(path, Lazy, mount?.MountId);
        }
        catch (HotplugException ex)
        {
            WriteError(MountErrors.FromHotplug(ex, path));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "UnmountFailed", path, $"Could not unmount '{path}'"));
            return;
        }

        if (Lazy)
        {
            string users = result.Holders.Count == 0
                ? "Nothing visible from here used it, so it should be released at once"
                : $"It is still in use — {string.Join("; ", result.Holders.Take(10))} — and those keep reading and writing it, unseen by the rest of the container, until they let go";
            WriteWarning($"{result.Target} was detached lazily (MNT_DETACH): it is gone from the mount table of PID {effective.ProcessId}, but the filesystem is released only when the last process using it lets go. {users}."
                + (result.MountsBelow.Count > 0 ? $" The mounts below it ({string.Join(", ", result.MountsBelow)}) were detached with it." : string.Empty)
                + " A device behind it stays busy until then.");
        }

        List<string> left = new();
        if (RemoveTarget)
        {
            if (mount is null)
            {
                WriteWarning($"-RemoveTarget: {result.Target} was named by path, so there is no record of what Move-MountIntoNamespace created; nothing was removed. Pipe the object from Move-MountIntoNamespace -PassThru to remove what it created.");
            }
            else if (created.Count == 0)
            {
                WriteVerbose($"-RemoveTarget: Move-MountIntoNamespace created nothing to reach {result.Target}; nothing to remove.");
            }
            else
            {
                foreach (RemovedPath removed in mounter.RemoveCreatedPaths(created))
                {
                    if (!removed.Removed)
                    {
                        left.Add(removed.Path);
                        WriteWarning($"-RemoveTarget: left {removed.Path} in place: {removed.Reason}.");
                    }
                    else
                    {
                        WriteVerbose($"-RemoveTarget: removed {removed.Path}{(removed.Reason is null ? string.Empty : $" ({removed.Reason})")}.");
                    }
                }
            }
        }

        mount?.MarkRemoved(RemoveTarget ? created.Where(left.Contains).ToList() : created);
    }

    private ContainerMounter? MounterFor(ContainerNamespace? ns, string path, out ContainerNamespace? effective)
    {
        effective = ns;
        try
        {
            if (ns is null)
            {
                // The caller's own namespace: pin this process, and enter its own namespace on the worker thread.
                _self ??= ContainerNamespace.Open(Environment.ProcessId);
                effective = _self;
            }

            ContainerNamespace pinned = effective ?? throw new InvalidOperationException("no namespace");
            if (!_mounters.TryGetValue(pinned, out ContainerMounter? mounter))
            {
                mounter = new ContainerMounter(pinned.Pidfd, pinned.ProcessId) { Trace = WriteVerbose };
                _mounters[pinned] = mounter;
            }

            return mounter;
        }
        catch (ObjectDisposedException)
        {
            WriteError(MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, path,
                $"The ContainerNamespace of PID {ns?.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
            return null;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "PidfdOpenFailed", path, "Could not pin this process"));
            return null;
        }
    }
}
