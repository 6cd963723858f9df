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
        if (MountLocator.TryOpenProcess(this, ProcessId) is not { } ns)
        {
            return;
        }

        WriteVerbose($"pidfd_open({ProcessId}, 0) = ok; mount namespace {ns.MountNamespaceId}, root {ns.RootDirectory}");

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
