using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>Get-ContainerNamespace: pins a running container's process with a pidfd.</summary>
[Cmdlet(VerbsCommon.Get, "ContainerNamespace")]
[OutputType(typeof(ContainerNamespace))]
public sealed class GetContainerNamespaceCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Pid", "Id")]
    [ValidateRange(1, int.MaxValue)]
    public int ProcessId { get; set; }

    protected override void BeginProcessing() => Preconditions.Require(this, Requirements.GetContainerNamespace);

    protected override void ProcessRecord()
    {
        ContainerNamespace ns;
        try
        {
            ns = ContainerNamespace.Open(ProcessId);
            WriteVerbose($"pidfd_open({ProcessId}, 0) = ok; mount namespace {ns.MountNamespaceId}, root {ns.RootDirectory}");
        }
        catch (SyscallException ex)
        {
            string id = ex.Errno == Errno.ESRCH ? "ProcessNotFound" : "PidfdOpenFailed";
            WriteError(MountErrors.FromSyscall(ex, id, ProcessId, $"Could not pin process {ProcessId}"));
            return;
        }

        if (ns.IsCallerNamespace)
        {
            WriteWarning($"Process {ProcessId} ({ns.ProcessName}) shares this session's mount namespace: it is not in a container of its own, and mounts attached there are visible on the host.");
        }

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
