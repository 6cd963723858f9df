using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Set-MountAttribute: changes the propagation and the read-only, nosuid, nodev and noexec flags of an attached mount, in any
/// mount namespace, with mount_setattr.
/// </summary>
[Cmdlet(VerbsCommon.Set, "MountAttribute", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathSet, HelpUri = HelpLinks.Docs + "Set-MountAttribute.md")]
[OutputType(typeof(Mount))]
public sealed class SetMountAttributeCommand : MountCmdlet, IDisposable
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

        // Parameters on the command line are bound before this runs; those from the pipeline's objects only later.
        _namespaceOnCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Namespace));
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
            ThrowTerminatingError(MountErrors.Plain(ErrorId.NothingToChange, ErrorCategory.InvalidArgument, null,
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
        if ((byMount || !_namespaceOnCommandLine) && ns is { IsDisposed: true } disposed)
        {
            // A Get-Mount object that outlived its ContainerNamespace: the same container, proven again. A -Namespace
            // disposed by the caller and given on the command line stays an error.
            ns = Repins.Repin(disposed.ProcessId, disposed.ProcessStartTime, disposed.MountNamespaceId, path);
            if (ns is null)
            {
                return;
            }
        }

        MountPoint mount;
        try
        {
            mount = CmdletLookups.Open(this, path, ns);
        }
        catch (Exception ex) when (MountErrors.FromLocate(ex, ErrorId.MountNotFound, path, ns, "Mount point") is { } error)
        {
            WriteError(error);
            return;
        }

        using (mount)
        {
            Change(mount, path, ns, byMount ? Mount.MountId : MountId);
        }
    }

    private void Change(MountPoint mount, string path, ContainerNamespace? ns, ulong expectedId)
    {
        string where = MountLocator.Where(ns);
        if (expectedId != 0 && mount.Mismatch(expectedId) is { } why)
        {
            WriteError(MountErrors.Plain(ErrorId.MountChanged, ErrorCategory.InvalidOperation, path, why, "List the mounts again with Get-Mount."));
            return;
        }

        if (!mount.Stat().IsMountRoot)
        {
            WriteError(MountErrors.Plain(ErrorId.NotAMountPoint, ErrorCategory.InvalidArgument, path,
                $"'{path}' {where} is not a mount point: it is a directory inside another mount, whose attributes would change for everything it shows.",
                "Name a mount point; Get-Mount lists them."));
            return;
        }

        string subject = $"the mount at '{path}' {where}{(Recurse ? " and every mount below it" : string.Empty)}";
        if (!ShouldProcess($"{_changes} on {subject} (mount_setattr)", $"{_changes} on {subject}?", "Set-MountAttribute"))
        {
            return;
        }

        try
        {
            mount.SetAttributes(_set, _clear, Propagation, Recurse, Trace);
        }
        catch (HotplugException ex)
        {
            WriteError(MountErrors.FromHotplug(ex, ns is null ? path : new ContainerPath(path, ns)));
            return;
        }
        catch (SyscallException ex) when (ex.Syscall is "setns" or "unshare")
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? ErrorId.ContainerExited : ErrorId.EnterNamespaceFailed, path, $"Could not enter the mount namespace of PID {ns?.ProcessId}"));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.MountSetAttrFailed, path, $"Could not {_changes} on {subject}", Hint(ex.Errno)));
            return;
        }

        if (PassThru && mount.Describe() is { } updated)
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

    private Repinner? _repins;
    private bool _namespaceOnCommandLine;

    private Repinner Repins => _repins ??= new Repinner(this, "change", "Nothing was changed.");

    public void Dispose() => _repins?.Dispose();
}
