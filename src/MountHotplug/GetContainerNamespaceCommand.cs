using System.Management.Automation;
using MountHotplug.Runtimes;

namespace MountHotplug;

/// <summary>
/// Get-ContainerNamespace: pins a running container's init process with a pidfd: by PID, by the name a container
/// runtime gives it, or, with no arguments, for every running container the runtimes know of.
/// </summary>
[Cmdlet(VerbsCommon.Get, "ContainerNamespace", DefaultParameterSetName = ListSet, HelpUri = HelpLinks.Docs + "Get-ContainerNamespace.md")]
[OutputType(typeof(ContainerNamespace))]
public sealed class GetContainerNamespaceCommand : PSCmdlet
{
    private const string ListSet = "List";
    private const string PidSet = "ProcessId";
    private const string NameSet = "Name";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = PidSet)]
    [Alias("Pid", "Id")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(ProcessIdCompleter))]
    public int ProcessId { get; set; }

    /// <summary>The container's name in its runtime. Not positional: a Proxmox CT ID would otherwise bind as a PID.</summary>
    [Parameter(Mandatory = true, ParameterSetName = NameSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ContainerNameCompleter))]
    public string Name { get; set; } = string.Empty;

    [Parameter(ParameterSetName = NameSet)]
    [Parameter(ParameterSetName = ListSet)]
    public ContainerRuntime Runtime { get; set; }

    /// <summary>The LXC (and Proxmox) container directory to look in instead of every running container's own.</summary>
    [Parameter(ParameterSetName = NameSet)]
    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    public string? LxcPath { get; set; }

    /// <summary>The LXD or Incus project of -Name (also "PROJECT:NAME"), or the one project to list.</summary>
    [Parameter(ParameterSetName = NameSet)]
    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    public string? Project { get; set; }

    protected override void BeginProcessing() => Preconditions.Require(this, Requirements.GetContainerNamespace);

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case PidSet:
                OpenByPid();
                break;
            case NameSet:
                OpenByName();
                break;
            default:
                ListAll();
                break;
        }
    }

    private ContainerRuntime? RequestedRuntime => MyInvocation.BoundParameters.ContainsKey(nameof(Runtime)) ? Runtime : null;

    private string? ResolvedLxcPath => LxcPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(LxcPath);

    private void OpenByPid()
    {
        if (CmdletLookups.TryOpenProcess(this, ProcessId) is not { } ns)
        {
            return;
        }

        WriteVerbose($"pidfd_open({ProcessId}, 0) = ok; mount namespace {ns.MountNamespaceId}, root {ns.RootDirectory}");

        if (ns.IsCallerNamespace)
        {
            WriteWarning($"Process {ProcessId} ({ns.ProcessName}) shares this session's mount namespace: it is not in a container of its own, and mounts attached there are visible on the host.");
        }

        Emit(ns);
    }

    private void OpenByName()
    {
        ContainerLookup lookup = ContainerLookup.For(RequestedRuntime, ResolvedLxcPath, Project);
        lookup.Trace = WriteVerbose;
        ContainerNamespace ns;
        try
        {
            ns = lookup.Open(Name);
        }
        catch (ContainerLookupException ex)
        {
            WriteError(MountErrors.FromLookup(ex));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? ErrorId.ContainerChanged : ErrorId.PidfdOpenFailed, Name,
                $"Could not pin container '{Name}'"));
            return;
        }

        Emit(ns);
    }

    private void ListAll()
    {
        ContainerLookup lookup = ContainerLookup.For(RequestedRuntime, ResolvedLxcPath, Project);
        lookup.Trace = WriteVerbose;
        var unavailable = new List<string>();
        IReadOnlyList<ContainerNamespace> pinned = lookup.OpenAll(unavailable);
        if (RequestedRuntime is not null && unavailable.Count > 0)
        {
            WriteError(MountErrors.Plain(ErrorId.RuntimeUnavailable, ErrorCategory.ResourceUnavailable, RequestedRuntime,
                $"Cannot list the containers of {unavailable[0]}.", "Install the runtime's tools, or start its daemon (DOCKER_HOST, CONTAINER_HOST)."));
            return;
        }

        for (int i = 0; i < pinned.Count; i++)
        {
            try
            {
                Emit(pinned[i]);
            }
            catch
            {
                // Stopped downstream: the ones not written are nobody's.
                foreach (ContainerNamespace rest in pinned.Skip(i + 1))
                {
                    rest.Dispose();
                }

                throw;
            }
        }
    }

    private void Emit(ContainerNamespace ns)
    {
        try
        {
            WriteObject(ns);
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }
}
