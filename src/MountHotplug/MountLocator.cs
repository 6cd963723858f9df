using System.Runtime.InteropServices;
using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>Finds a mount again from a path and a namespace, or from a Get-Mount object; shared by the commands that change mounts.</summary>
internal static class MountLocator
{
    /// <summary>
    /// Opens <paramref name="path"/> as an O_PATH descriptor: in the caller's namespace through the PowerShell provider, or inside
    /// the root of <paramref name="ns"/>'s process with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), "/" being that root, a
    /// symlink in the last component refused (TargetIsSymlink).
    /// </summary>
    /// <exception cref="HotplugException">Invalid path (InvalidTarget) or the process has exited (ContainerExited).</exception>
    /// <exception cref="SyscallException">The path cannot be opened.</exception>
    /// <exception cref="ObjectDisposedException">The namespace object was disposed.</exception>
    internal static SafePathHandle Open(PSCmdlet cmdlet, string path, ContainerNamespace? ns) => Open(cmdlet, path, ns, out _);

    /// <param name="shown">The path as opened: the provider's absolute path in the caller's namespace, else <paramref name="path"/>.</param>
    internal static SafePathHandle Open(PSCmdlet cmdlet, string path, ContainerNamespace? ns, out string shown)
    {
        shown = path;
        if (ns is null)
        {
            shown = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
            if (TargetPath.TextProblem(shown) is { } problem)
            {
                throw new HotplugException(HotplugFailure.InvalidTarget, path, $"Invalid path '{path}': the path {problem}.");
            }

            return MountSyscalls.Open(shown, OpenFlags.Path);
        }

        bool isRoot = path.Length > 0 && path.Trim('/').Length == 0;
        IReadOnlyList<string>? components = isRoot ? Array.Empty<string>() : TargetPath.TrySplit(path, out string? reason)
            ?? throw new HotplugException(HotplugFailure.InvalidTarget, path ?? string.Empty, $"Invalid path '{path}': {reason}.");
        using SafePathHandle root = ContainerMounter.OpenProcessRoot(ns.Pidfd, ns.ProcessId, path!);
        if (components.Count == 0)
        {
            return MountSyscalls.OpenAt2(root, ".", OpenFlags.Path | OpenFlags.Directory, ResolveFlags.Beneath, "/");
        }

        // A link in the last component is not followed, as Move-MountIntoNamespace does not: the container could point it
        // at another of its mounts, and the command would change that one.
        SafePathHandle handle = MountSyscalls.OpenAt2(root, TargetPath.Join(components), ContainerTarget.LastComponent, ContainerTarget.InRoot, path);
        if (MountSyscalls.Statx(handle, path).IsSymlink)
        {
            handle.Dispose();
            throw new HotplugException(HotplugFailure.TargetIsSymlink, path,
                $"'{path}' is a symbolic link inside the container; a mount is never changed through a link in the last component, which the container could point at another mount.");
        }

        return handle;
    }

    /// <summary>Why <paramref name="handle"/> is no longer the mount <paramref name="mount"/> that was listed; null when it still is.</summary>
    internal static string? Mismatch(SafeHandle handle, Mount mount) =>
        Mismatch(handle, mount.MountId != 0 ? mount.MountId : (ulong)mount.OldMountId, unique: mount.MountId != 0, mount.MountPoint, mount.Namespace);

    /// <summary>
    /// Why <paramref name="handle"/> is not the root of the mount <paramref name="expected"/> (a unique id, or a mountinfo id when
    /// <paramref name="unique"/> is false); null when it is.
    /// </summary>
    internal static string? Mismatch(SafeHandle handle, ulong expected, bool unique, string path, ContainerNamespace? ns) =>
        Mismatch(MountSyscalls.Statx(handle, path, uniqueMountId: unique), expected, unique, path, ns);

    /// <summary>The same, from a statx already made with <c>uniqueMountId: unique</c>.</summary>
    internal static string? Mismatch(StatxInfo info, ulong expected, bool unique, string path, ContainerNamespace? ns)
    {
        if (unique && !info.MountIdIsUnique)
        {
            return null; // a kernel without unique ids cannot have handed one out
        }

        if (info.IsMountRoot && info.MountId == expected)
        {
            return null;
        }

        return $"'{path}' {Where(ns)} is now {(info.IsMountRoot ? $"mount {info.MountId}" : $"a directory inside mount {info.MountId}")}, not the mount {expected} that was listed: it was unmounted, moved or covered by another mount since.";
    }

    /// <summary>Pins <paramref name="processId"/> for a command's -ProcessId; null after writing the error.</summary>
    internal static ContainerNamespace? TryOpenProcess(PSCmdlet cmdlet, int processId)
    {
        try
        {
            return ContainerNamespace.Open(processId);
        }
        catch (SyscallException ex)
        {
            string id = ex.Errno == Errno.ESRCH ? "ProcessNotFound" : "PidfdOpenFailed";
            int? process = ex.Syscall == "pidfd_open" ? ThreadGroupOf(processId) : null;
            cmdlet.WriteError(process is { } tgid && tgid != processId
                ? MountErrors.FromSyscall(ex, id, processId, $"{processId} is a thread of process {tgid}, not a process, so it cannot be pinned",
                    $"Give the process id: -ProcessId {tgid}.")
                : MountErrors.FromSyscall(ex, id, processId, $"Could not pin process {processId}"));
            return null;
        }
    }

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


    /// <summary>The namespace's mount table for a command; null after writing the error.</summary>
    internal static IReadOnlyList<MountEntry>? TryReadTable(PSCmdlet cmdlet, ContainerNamespace? ns)
    {
        try
        {
            return ReadTable(ns, cmdlet.WriteVerbose);
        }
        catch (SyscallException ex)
        {
            cmdlet.WriteError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? "ContainerExited" : "ReadMountTableFailed", ns?.ProcessId,
                $"Could not read the mount table {Where(ns)}"));
        }
        catch (ObjectDisposedException ex)
        {
            cmdlet.WriteError(ToError(ex, "ReadMountTableFailed", string.Empty, ns, "Namespace")!);
        }

        return null;
    }

    /// <summary>The namespace's mount table.</summary>
    internal static IReadOnlyList<MountEntry> ReadTable(ContainerNamespace? ns, Action<string>? trace = null) =>
        ns is null ? MountTable.Read() : MountTable.Read(ns.Pidfd, ns.ProcessId, trace: trace);

    /// <summary>The Get-Mount object of the mount <paramref name="handle"/> is on, read afresh; null if the table does not hold it.</summary>
    internal static Mount? Describe(SafeHandle handle, ContainerNamespace? ns) =>
        MountTable.FindMountOf(ReadTable(ns), handle) is { } entry ? new Mount(entry, ns) : null;

    /// <summary>"in this namespace", "in the mount namespace of PID 123".</summary>
    internal static string Where(ContainerNamespace? ns) => ns is null ? "in this namespace" : $"in the mount namespace of PID {ns.ProcessId}";

    /// <summary>The errors a lookup can raise, as ErrorRecords with the given id for "not found".</summary>
    internal static ErrorRecord? ToError(Exception ex, string notFoundId, string path, ContainerNamespace? ns, string role) => ex switch
    {
        HotplugException { Failure: HotplugFailure.ContainerExited } h => MountErrors.Plain("ContainerExited", ErrorCategory.ObjectNotFound, path, h.Message),
        HotplugException { Failure: HotplugFailure.TargetIsSymlink } h => MountErrors.Plain("PathIsSymlink", ErrorCategory.InvalidArgument, path, h.Message,
            "Name the mount point the link leads to (readlink it inside the container); links are followed in the other components."),
        HotplugException h => MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, path, h.Message),
        SyscallException s => MountErrors.FromSyscall(s, notFoundId, path, $"{role} '{path}' {Where(ns)} cannot be opened"),
        ObjectDisposedException => MountErrors.Plain("NamespaceDisposed", ErrorCategory.InvalidArgument, ns,
            $"The ContainerNamespace of PID {ns?.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."),
        _ => null,
    };
}
