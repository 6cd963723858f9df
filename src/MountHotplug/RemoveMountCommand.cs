using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Remove-Mount: unplugs a mount inside a running container (or the caller's own namespace). The unmount runs on a
/// thread inside that mount namespace, on the leaf name of an already resolved parent; a busy mount is refused with
/// the processes that hold it, unless -Lazy.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Mount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = InputObjectSet, HelpUri = HelpLinks.Docs + "Remove-Mount.md")]
public sealed class RemoveMountCommand : MountCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string InputObjectSet = "InputObject";

    // The caller's own namespace, pinned for a -Path without -Namespace; released with the pipeline.
    private ContainerNamespace? _self;

    // Containers pinned again for mounts whose ContainerNamespace was disposed or deserialized; disposed with the pipeline.
    private Repinner? _repins;

    private Repinner Repins => _repins ??= new Repinner(this, "unmount", "Nothing was unmounted.");

    // Created directories left because they were not empty: in a batch made with one -CreateTarget parent, the first mount's
    // parent still holds the other mounts' targets. Tried again after each later removal and reported only at the end.
    private readonly List<(ContainerSession Session, StagedMount Owner, string Path)> _notEmpty = new();

    /// <summary>A mount attached by Move-MountIntoNamespace -PassThru: its Target, Namespace and mount id are used.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    [ValidateNotNull]
    [DeserializedMountTransformation]
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
            WriteError(MountErrors.Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, Path,
                "No mount point was given (the input has an empty MountPoint or Target).", "Give -Path, or pipe a mount that is attached."));
            return;
        }

        RemoveOne(Path, Namespace, mount: null);
    }

    protected override void EndProcessing()
    {
        foreach ((_, _, string path) in _notEmpty)
        {
            WriteWarning($"-RemoveTarget: left {path} in place: {ContainerSession.NotEmptyReason}.");
        }

        _notEmpty.Clear();
    }

    /// <summary>Releases what this pipeline pinned itself (the caller's namespace, containers pinned again).</summary>
    public void Dispose()
    {
        _repins?.Dispose();
        _self?.Dispose();
        _self = null;
    }

    private void RemoveStaged(StagedMount mount)
    {
        if (mount.GetState() != StagedMountState.Attached || mount.Target is null)
        {
            WriteError(MountErrors.Plain(ErrorId.MountNotAttached, ErrorCategory.InvalidOperation, mount.Source,
                $"The mount of '{mount.Source}' is {mount.State.ToLowerInvariant()}, not attached; there is nothing to unmount.",
                mount.GetState() == StagedMountState.Staged ? "Dispose() it to dissolve a staged mount." : null));
            return;
        }

        // The object may have outlived its ContainerNamespace (disposed by the script that made it, or lost when it was
        // serialized): the container is pinned again from what the object recorded, and Unmount then proves the mount id.
        ContainerNamespace? ns = mount.Namespace is { IsDisposed: false } live ? live
            : Repins.Repin(mount.NamespaceProcessId, mount.NamespaceProcessStartTime, mount.MountNamespaceId, mount.Target);
        if (ns is not null)
        {
            RemoveOne(mount.Target, ns, mount);
        }
    }

    private void RemoveOne(string path, ContainerNamespace? ns, StagedMount? mount)
    {
        ContainerSession? session = SessionFor(ns, path, out ContainerNamespace? effective);
        if (session is null)
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
            result = mount is null ? session.Unmount(path, Lazy, null, Trace) : session.Unmount(mount, Lazy, Trace);
        }
        catch (HotplugException ex)
        {
            WriteError(MountErrors.FromHotplug(ex, path));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.UnmountFailed, path, $"Could not unmount '{path}'"));
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
                foreach (RemovedPath removed in session.RemoveCreatedPaths(mount, created, Trace))
                {
                    if (!removed.Removed && removed.Reason == ContainerSession.NotEmptyReason)
                    {
                        left.Add(removed.Path);
                        _notEmpty.Add((session, mount, removed.Path));
                        WriteVerbose($"-RemoveTarget: {removed.Path} is not empty yet; tried again after the other mounts of this pipeline.");
                    }
                    else if (!removed.Removed)
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

        if (RemoveTarget)
        {
            RetryNotEmpty(session);
        }
    }

    /// <summary>Removes the directories left non-empty earlier in this pipeline that this removal may have emptied, deepest first.</summary>
    private void RetryNotEmpty(ContainerSession session)
    {
        foreach ((ContainerSession Session, StagedMount Owner, string Path) entry in _notEmpty.Where(e => e.Session == session).OrderByDescending(e => e.Path.Length).ToList())
        {
            RemovedPath removed = session.RemoveCreatedPaths(entry.Owner, [entry.Path], Trace)[0];
            if (removed.Removed)
            {
                _notEmpty.Remove(entry);
                WriteVerbose($"-RemoveTarget: removed {entry.Path}, emptied by this removal.");
            }
        }
    }

    private ContainerSession? SessionFor(ContainerNamespace? ns, string path, out ContainerNamespace? effective)
    {
        effective = ns;
        try
        {
            if (ns is { IsDisposed: true })
            {
                // A Get-Mount object that outlived its ContainerNamespace: the same container, proven by start time and namespace.
                effective = Repins.Repin(ns.ProcessId, ns.ProcessStartTime, ns.MountNamespaceId, path);
                if (effective is null)
                {
                    return null;
                }
            }
            else if (ns is null)
            {
                // The caller's own namespace, worked on like any container's.
                _self ??= ContainerNamespace.OpenCaller();
                effective = _self;
            }

            return (effective ?? throw new InvalidOperationException("no namespace")).Session;
        }
        catch (ObjectDisposedException)
        {
            WriteError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, path,
                $"The ContainerNamespace of PID {ns?.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
            return null;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.PidfdOpenFailed, path, "Could not pin this process"));
            return null;
        }
    }
}
