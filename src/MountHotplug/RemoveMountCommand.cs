using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Remove-Mount: unplugs a mount inside a running container (or the caller's own namespace). The unmount runs on a
/// thread inside that mount namespace, on the leaf name of an already resolved parent; a busy mount is refused with
/// the processes that hold it, unless -Lazy.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Mount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = InputObjectSet, HelpUri = HelpLinks.Docs + "Remove-Mount.md")]
public sealed class RemoveMountCommand : PSCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string InputObjectSet = "InputObject";

    // One namespace thread per namespace for the whole pipeline; ended with it.
    private readonly Dictionary<ContainerNamespace, ContainerMounter> _mounters = new(ReferenceEqualityComparer.Instance);
    private ContainerNamespace? _self;

    // Containers pinned again for mounts whose ContainerNamespace was disposed or deserialized; disposed with the pipeline.
    private readonly Dictionary<(int Pid, ulong StartTime, ulong MountNamespace), ContainerNamespace> _repinned = new();

    // Created directories left because they were not empty: in a batch made with one -CreateTarget parent, the first mount's
    // parent still holds the other mounts' targets. Tried again after each later removal and reported only at the end.
    private readonly List<(ContainerMounter Mounter, StagedMount Owner, string Path)> _notEmpty = new();

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
            WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, Path,
                "No mount point was given (the input has an empty MountPoint or Target).", "Give -Path, or pipe a mount that is attached."));
            return;
        }

        RemoveOne(Path, Namespace, mount: null);
    }

    protected override void EndProcessing()
    {
        foreach ((_, _, string path) in _notEmpty)
        {
            WriteWarning($"-RemoveTarget: left {path} in place: {ContainerMounter.NotEmptyReason}.");
        }

        _notEmpty.Clear();
        Dispose();
    }

    protected override void StopProcessing() => Dispose();

    /// <summary>Ends the namespace threads: they are never reused for another pipeline.</summary>
    public void Dispose()
    {
        foreach (ContainerMounter mounter in _mounters.Values)
        {
            mounter.Dispose();
        }

        _mounters.Clear();
        foreach (ContainerNamespace repinned in _repinned.Values)
        {
            repinned.Dispose();
        }

        _repinned.Clear();
        _self?.Dispose();
        _self = null;
    }

    private void RemoveStaged(StagedMount mount)
    {
        if (mount.GetState() != StagedMountState.Attached || mount.Target is null)
        {
            WriteError(MountErrors.Plain("MountNotAttached", ErrorCategory.InvalidOperation, mount.Source,
                $"The mount of '{mount.Source}' is {mount.State.ToLowerInvariant()}, not attached; there is nothing to unmount.",
                mount.GetState() == StagedMountState.Staged ? "Dispose() it to dissolve a staged mount." : null));
            return;
        }

        // The object may have outlived its ContainerNamespace (disposed by the script that made it, or lost when it was
        // serialized): the container is pinned again from what the object recorded, and Unmount then proves the mount id.
        ContainerNamespace? ns = mount.Namespace is { IsDisposed: false } live ? live
            : Repin(mount.NamespaceProcessId, mount.NamespaceProcessStartTime, mount.MountNamespaceId, mount.Target);
        if (ns is not null)
        {
            RemoveOne(mount.Target, ns, mount);
        }
    }

    /// <summary>The container a mount was attached in, pinned again and proven the same; null after writing the error.</summary>
    private ContainerNamespace? Repin(int? processId, ulong? startTime, ulong? mountNamespaceId, string target)
    {
        if (processId is not { } pid || startTime is not { } start || mountNamespaceId is not { } mntns)
        {
            WriteError(MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, target,
                $"The ContainerNamespace of PID {processId} has been disposed, and the object does not record the process's start time to find it again.",
                "Get a new one with Get-ContainerNamespace and use -Path and -Namespace."));
            return null;
        }

        if (_repinned.TryGetValue((pid, start, mntns), out ContainerNamespace? known))
        {
            return known;
        }

        try
        {
            ContainerNamespace ns = ContainerNamespace.Reopen(pid, start, mntns);
            WriteVerbose($"Pinned PID {pid} again (start time {start}, mount namespace {mntns}): the object's ContainerNamespace was disposed or deserialized.");
            _repinned[(pid, start, mntns)] = ns;
            return ns;
        }
        catch (ProcessChangedException ex)
        {
            WriteError(ex.Exited
                ? MountErrors.Build(ex, "ContainerExited", ErrorCategory.ObjectNotFound, target, $"Cannot unmount '{target}': {ex.Message} Nothing was unmounted.",
                    "The mount went with the container's mount namespace; start the container again and get a new object with Get-ContainerNamespace.")
                : MountErrors.Build(ex, "MountNamespaceChanged", ErrorCategory.InvalidOperation, target, $"Cannot unmount '{target}': {ex.Message} Nothing was unmounted.",
                    "Look at the process's mount table (Get-Mount -ProcessId); to unmount there, use -Path and -Namespace."));
            return null;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "PidfdOpenFailed", target, $"Could not pin PID {pid} again"));
            return null;
        }
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
                    if (!removed.Removed && removed.Reason == ContainerMounter.NotEmptyReason)
                    {
                        left.Add(removed.Path);
                        _notEmpty.Add((mounter, mount, removed.Path));
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

        mount?.MarkRemoved(RemoveTarget ? created.Where(left.Contains).ToList() : created);
        if (RemoveTarget)
        {
            RetryNotEmpty(mounter);
        }
    }

    /// <summary>Removes the directories left non-empty earlier in this pipeline that this removal may have emptied, deepest first.</summary>
    private void RetryNotEmpty(ContainerMounter mounter)
    {
        foreach ((ContainerMounter Mounter, StagedMount Owner, string Path) entry in _notEmpty.Where(e => e.Mounter == mounter).OrderByDescending(e => e.Path.Length).ToList())
        {
            RemovedPath removed = mounter.RemoveCreatedPaths([entry.Path])[0];
            if (removed.Removed)
            {
                _notEmpty.Remove(entry);
                entry.Owner.ForgetCreatedPath(entry.Path);
                WriteVerbose($"-RemoveTarget: removed {entry.Path}, emptied by this removal.");
            }
        }
    }

    private ContainerMounter? MounterFor(ContainerNamespace? ns, string path, out ContainerNamespace? effective)
    {
        effective = ns;
        try
        {
            if (ns is { IsDisposed: true })
            {
                // A Get-Mount object that outlived its ContainerNamespace: the same container, proven by start time and namespace.
                effective = Repin(ns.ProcessId, ns.ProcessStartTime, ns.MountNamespaceId, path);
                if (effective is null)
                {
                    return null;
                }
            }
            else if (ns is null)
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
