using System.Management.Automation;

namespace MountHotplug;

/// <summary>The lookups every cmdlet makes, with the error each writes when the lookup fails.</summary>
internal static class CmdletLookups
{
    /// <summary>
    /// Opens <paramref name="path"/> as an O_PATH descriptor: in the caller's namespace through the PowerShell provider (so
    /// that relative paths follow the session's location), or inside the container's root.
    /// </summary>
    internal static MountPoint Open(PSCmdlet cmdlet, string path, ContainerNamespace? ns) =>
        MountPoint.Open(ns is null ? cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path) : path, ns);

    /// <summary>Pins <paramref name="processId"/> for a command's -ProcessId; null after writing the error.</summary>
    internal static ContainerNamespace? TryOpenProcess(PSCmdlet cmdlet, int processId)
    {
        try
        {
            return ContainerNamespace.Open(processId);
        }
        catch (SyscallException ex)
        {
            // ESRCH from the pidfd check, or ENOENT from /proc/PID of a zombie: the process is gone either way.
            ErrorId id = ex.Errno == Errno.ESRCH || (ex.Syscall is "open" or "openat" && ex.Errno == Errno.ENOENT) ? ErrorId.ProcessNotFound : ErrorId.PidfdOpenFailed;
            int? process = ex.Syscall == "pidfd_open" ? ThreadGroupOf(processId) : null;
            cmdlet.WriteError(process is { } tgid && tgid != processId
                ? MountErrors.FromSyscall(ex, id, processId, $"{processId} is a thread of process {tgid}, not a process, so it cannot be pinned",
                    $"Give the process id: -ProcessId {tgid}.")
                : MountErrors.FromSyscall(ex, id, processId, $"Could not pin process {processId}"));
            return null;
        }
    }

    // pidfd_open refuses a thread id that is not its process's (ENOENT since 2025, EINVAL before); /proc/TID still answers.
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


    /// <summary>The namespace's mount table for a command; null after writing the error.</summary>
    internal static IReadOnlyList<MountEntry>? TryReadTable(PSCmdlet cmdlet, ContainerNamespace? ns)
    {
        try
        {
            return MountLocator.ReadTable(ns, cmdlet.WriteVerbose);
        }
        catch (SyscallException ex)
        {
            cmdlet.WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? ErrorId.ContainerExited : ErrorId.ReadMountTableFailed, ns?.ProcessId,
                $"Could not read the mount table {MountLocator.Where(ns)}"));
        }
        catch (ObjectDisposedException ex)
        {
            cmdlet.WriteError(MountErrors.FromLocate(ex, ErrorId.ReadMountTableFailed, string.Empty, ns, "Namespace")!);
        }

        return null;
    }
}
