using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Set-MountAttribute: changes the propagation and the read-only, nosuid, nodev and noexec flags of an attached mount, in any
/// mount namespace, with mount_setattr.
/// </summary>
[Cmdlet(VerbsCommon.Set, "MountAttribute", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathSet, HelpUri = HelpLinks.Docs + "Set-MountAttribute.md")]
[OutputType(typeof(Mount))]
public sealed class SetMountAttributeCommand : PSCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string MountSet = "Mount";

    private static readonly (string Parameter, MountAttributes Flag, string Name)[] Flags =
    {
        (nameof(ReadOnly), MountAttributes.ReadOnly, "ro"),
        (nameof(NoSuid), MountAttributes.NoSuid, "nosuid"),
        (nameof(NoDev), MountAttributes.NoDev, "nodev"),
        (nameof(NoExec), MountAttributes.NoExec, "noexec"),
    };

    private readonly Dictionary<ContainerNamespace, NamespaceWorker> _workers = new(ReferenceEqualityComparer.Instance);
    private NamespaceWorker? _ownWorker;
    private MountAttributes _set;
    private MountAttributes _clear;
    private string _changes = string.Empty;

    /// <summary>A mount point, in your namespace or inside -Namespace.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("MountPoint", "Target")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(MountPointCompleter))]
    public string Path { get; set; } = string.Empty;

    [Parameter(ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
    public ContainerNamespace? Namespace { get; set; }

    /// <summary>
    /// The unique id of the mount expected at -Path; from the pipeline, a Get-Mount object (or an attached StagedMount) brings it
    /// along with its MountPoint and Namespace, so a mount replaced since it was listed is not changed by mistake. 0: no check.
    /// </summary>
    [Parameter(ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
    public ulong MountId { get; set; }

    /// <summary>A mount from Get-Mount; it carries its namespace, and it must still be the mount at its mount point.</summary>
    [Parameter(Mandatory = true, ParameterSetName = MountSet)]
    [ValidateNotNull]
    public Mount Mount { get; set; } = null!;

    [Parameter]
    [ValidateSet(nameof(MountPropagation.Private), nameof(MountPropagation.Shared), nameof(MountPropagation.Slave), nameof(MountPropagation.Unbindable))]
    public MountPropagation Propagation { get; set; }

    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    [Parameter]
    public SwitchParameter NoSuid { get; set; }

    [Parameter]
    public SwitchParameter NoDev { get; set; }

    [Parameter]
    public SwitchParameter NoExec { get; set; }

    /// <summary>Change every mount below too (AT_RECURSIVE).</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        Preconditions.Require(this, Requirements.SetMountAttribute);
        var changes = new List<string>();
        foreach (var (parameter, flag, name) in Flags)
        {
            if (this.BoundSwitch(parameter) is bool on)
            {
                _set |= on ? flag : 0;
                _clear |= on ? 0 : flag;
                changes.Add(on ? $"set {name}" : $"clear {name}");
            }
        }

        if (MyInvocation.BoundParameters.ContainsKey(nameof(Propagation)))
        {
            changes.Add($"make {Propagation.ToString().ToLowerInvariant()}");
        }
        else
        {
            Propagation = MountPropagation.Unchanged;
        }

        if (changes.Count == 0)
        {
            ThrowTerminatingError(MountErrors.Plain("NothingToChange", ErrorCategory.InvalidArgument, null,
                "Set-MountAttribute was given nothing to change.",
                "Add -Propagation, or -ReadOnly, -NoSuid, -NoDev, -NoExec (with :$false to clear the flag)."));
        }

        _changes = string.Join(", ", changes);
    }

    protected override void ProcessRecord()
    {
        bool byMount = ParameterSetName == MountSet;
        ContainerNamespace? ns = byMount ? Mount.Namespace : Namespace;
        string path = byMount ? Mount.MountPoint : Path;
        SafePathHandle handle;
        try
        {
            handle = CmdletLookups.Open(this, path, ns);
        }
        catch (Exception ex) when (MountErrors.FromLocate(ex, "MountNotFound", path, ns, "Mount point") is { } error)
        {
            WriteError(error);
            return;
        }

        using (handle)
        {
            Change(handle, path, ns, byMount ? Mount.MountId : MountId);
        }
    }

    protected override void EndProcessing() => Dispose();

    protected override void StopProcessing() => Dispose();

    /// <summary>Ends the namespace threads: they are never reused for another pipeline.</summary>
    public void Dispose()
    {
        foreach (NamespaceWorker worker in _workers.Values)
        {
            worker.Dispose();
        }

        _workers.Clear();
        _ownWorker?.Dispose();
        _ownWorker = null;
    }

    private void Change(SafePathHandle handle, string path, ContainerNamespace? ns, ulong expectedId)
    {
        string where = MountLocator.Where(ns);
        StatxInfo info = MountSyscalls.Statx(handle, path, uniqueMountId: true);
        if (expectedId != 0 && MountLocator.Mismatch(info, expectedId, unique: true, path, ns) is { } why)
        {
            WriteError(MountErrors.Plain("MountChanged", ErrorCategory.InvalidOperation, path, why, "List the mounts again with Get-Mount."));
            return;
        }

        if (!info.IsMountRoot)
        {
            WriteError(MountErrors.Plain("NotAMountPoint", ErrorCategory.InvalidArgument, path,
                $"'{path}' {where} is not a mount point: it is a directory inside another mount, whose attributes would change for everything it shows.",
                "Name a mount point; Get-Mount lists them."));
            return;
        }

        string subject = $"the mount at '{path}' {where}{(Recurse ? " and every mount below it" : string.Empty)}";
        if (!ShouldProcess($"{_changes} on {subject} (mount_setattr)", $"{_changes} on {subject}?", "Set-MountAttribute"))
        {
            return;
        }

        NamespaceWorker worker;
        try
        {
            worker = WorkerFor(ns);
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? "ContainerExited" : "EnterNamespaceFailed", path, $"Could not enter the mount namespace of PID {ns?.ProcessId}"));
            return;
        }

        int errno = worker.TryMountSetAttr(handle, _set, _clear, Propagation, Recurse);
        WriteVerbose($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{(Recurse ? "|AT_RECURSIVE" : string.Empty)}, {{{_changes}}}){(worker.IsInline ? string.Empty : $" on thread {worker.NativeThreadId} inside the namespace")} = {(errno == 0 ? "0" : ErrnoText.Name(errno))}");
        if (errno != 0)
        {
            var ex = SyscallException.Create("mount_setattr", errno, path);
            WriteError(MountErrors.FromSyscall(ex, "MountSetAttrFailed", path, $"Could not {_changes} on {subject}", Hint((Errno)errno)));
            return;
        }

        if (PassThru && MountLocator.Describe(handle, ns) is { } updated)
        {
            WriteObject(updated);
        }
    }

    private string? Hint(Errno errno) => errno switch
    {
        Errno.EBUSY => "Files are open for writing through the mount; close them (or stop their writers) before making it read-only.",
        Errno.EPERM when _clear != 0 => "The mount is locked: it came from a more privileged mount namespace into a container with its own user namespace, and its flags cannot be cleared there.",
        Errno.EINVAL => "The kernel refused the change for this mount; it may have been unmounted or moved meanwhile (Get-Mount shows the mounts now).",
        _ => null,
    };

    /// <summary>
    /// The kernel changes an attached mount only for a caller inside its namespace (mount_setattr from outside is EINVAL, even on
    /// a descriptor resolved there), so for another namespace the call runs on a namespace thread, entered once per namespace.
    /// </summary>
    private NamespaceWorker WorkerFor(ContainerNamespace? ns)
    {
        if (ns is null || ns.IsCallerNamespace)
        {
            return _ownWorker ??= NamespaceWorker.ForCallerNamespace();
        }

        if (!_workers.TryGetValue(ns, out NamespaceWorker? worker))
        {
            worker = NamespaceWorker.Enter(ns.Pidfd, $"mount namespace of PID {ns.ProcessId}");
            WriteVerbose($"unshare(CLONE_FS) + setns(pidfd of PID {ns.ProcessId}, CLONE_NEWNS) = 0 (thread {worker.NativeThreadId})");
            _workers[ns] = worker;
        }

        return worker;
    }
}
