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

    protected override void BeginProcessing() => Preconditions.Require(this, KernelFeature.PidfdOpen);

    // pidfd_open refuses a thread id that is not its process's (ENOENT, or EINVAL before 6.9); /proc/TID still answers.
    private static int? ThreadGroupOf(int id)
    {
        try
        {
            string? line = File.ReadLines($"/proc/{id}/status").FirstOrDefault(l => l.StartsWith("Tgid:", StringComparison.Ordinal));
            return line is not null && int.TryParse(line.AsSpan(5).Trim(), out int tgid) ? tgid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

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
            int? process = ex.Syscall == "pidfd_open" ? ThreadGroupOf(ProcessId) : null;
            WriteError(process is { } tgid && tgid != ProcessId
                ? MountErrors.FromSyscall(ex, id, ProcessId, $"{ProcessId} is a thread of process {tgid}, not a process, so it cannot be pinned",
                    $"Give the process id: Get-ContainerNamespace -ProcessId {tgid}.")
                : MountErrors.FromSyscall(ex, id, ProcessId, $"Could not pin process {ProcessId}"));
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
