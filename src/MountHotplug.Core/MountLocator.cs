using System.Runtime.InteropServices;

namespace MountHotplug;

/// <summary>Finds a mount again from a path and a namespace, or from a Get-Mount object; shared by the commands that change mounts.</summary>
public static class MountLocator
{
    /// <summary>
    /// Opens <paramref name="path"/> as an O_PATH descriptor: in the caller's namespace through the PowerShell provider, or inside
    /// the root of <paramref name="ns"/>'s process with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), "/" being that root, a
    /// symlink in the last component refused (TargetIsSymlink).
    /// </summary>
    /// <exception cref="HotplugException">Invalid path (InvalidTarget) or the process has exited (ContainerExited).</exception>
    /// <exception cref="SyscallException">The path cannot be opened.</exception>
    /// <exception cref="ObjectDisposedException">The namespace object was disposed.</exception>
    internal static SafePathHandle Open(string path, ContainerNamespace? ns)
    {
        if (ns is null)
        {
            if (TargetPath.TextProblem(path) is { } problem)
            {
                throw new HotplugException(HotplugFailure.InvalidTarget, path, $"Invalid path '{path}': the path {problem}.");
            }

            return MountSyscalls.Open(path, OpenFlags.Path);
        }

        using SafePathHandle root = ContainerSession.OpenProcessRoot(ns, path);
        return InRootPath.Open(root, path, InRootMode.MountPoint);
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

    /// <summary>The namespace's mount table.</summary>
    public static IReadOnlyList<MountEntry> ReadTable(ContainerNamespace? ns, Action<string>? trace = null) =>
        ns is null ? MountTable.Read() : MountTable.Read(ns.Pidfd, ns.ProcessId, trace: trace);

    /// <summary>The Get-Mount object of the mount <paramref name="handle"/> is on, read afresh; null if the table does not hold it.</summary>
    internal static Mount? Describe(SafeHandle handle, ContainerNamespace? ns) =>
        MountTable.FindMountOf(ReadTable(ns), handle) is { } entry ? new Mount(entry, ns) : null;

    /// <summary>"in this namespace", "in the mount namespace of PID 123".</summary>
    public static string Where(ContainerNamespace? ns) => ns is null ? "in this namespace" : $"in the mount namespace of PID {ns.ProcessId}";
}
