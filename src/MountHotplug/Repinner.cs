using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Pins again the container an object was made in, when the object's ContainerNamespace was disposed (by the script that
/// made it) or lost (deserialized from a job, a remote session or a file): from the PID, the process's start time and the
/// mount-namespace id the object carries (ContainerNamespace.Reopen), once per container for a pipeline.
/// </summary>
internal sealed class Repinner(PSCmdlet cmdlet, string verb, string nothingDone) : IDisposable
{
    private readonly Dictionary<(int Pid, ulong StartTime, ulong MountNamespace), ContainerNamespace> _repinned = new();

    /// <summary>The container pinned again and proven the same; null after writing the error.</summary>
    internal ContainerNamespace? Repin(int? processId, ulong? startTime, ulong? mountNamespaceId, string target)
    {
        if (processId is not { } pid || startTime is not { } start || mountNamespaceId is not { } mntns)
        {
            cmdlet.WriteError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, target,
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
            cmdlet.WriteVerbose($"Pinned PID {pid} again (start time {start}, mount namespace {mntns}): the object's ContainerNamespace was disposed or deserialized.");
            _repinned[(pid, start, mntns)] = ns;
            return ns;
        }
        catch (ProcessChangedException ex)
        {
            cmdlet.WriteError(ex.Exited
                ? MountErrors.Build(ex, ErrorId.ContainerExited, ErrorCategory.ObjectNotFound, target, $"Cannot {verb} '{target}': {ex.Message} {nothingDone}",
                    "The mount went with the container's mount namespace; start the container again and get a new object with Get-ContainerNamespace.")
                : MountErrors.Build(ex, ErrorId.MountNamespaceChanged, ErrorCategory.InvalidOperation, target, $"Cannot {verb} '{target}': {ex.Message} {nothingDone}",
                    "Look at the process's mount table (Get-Mount -ProcessId); to act there, use -Path and -Namespace."));
            return null;
        }
        catch (SyscallException ex)
        {
            cmdlet.WriteError(MountErrors.FromSyscall(ex, ErrorId.PidfdOpenFailed, target, $"Could not pin PID {pid} again"));
            return null;
        }
    }

    public void Dispose()
    {
        foreach (ContainerNamespace ns in _repinned.Values)
        {
            ns.Dispose();
        }

        _repinned.Clear();
    }
}
