
namespace MountHotplug;

/// <summary>Why an idmapped mount could not be made.</summary>
public enum IdMapFailure
{
    NotUserNamespace,
    InitialNamespace,
    ContainerExited,
    NotSupported,

    /// <summary>The user namespace has no uid or gid map yet.</summary>
    Unmapped,
    Failed,
}

public sealed class IdMapException(IdMapFailure failure, string message, SyscallException? syscall = null) : Exception(message, syscall)
{
    public IdMapFailure Failure { get; } = failure;

    public SyscallException? Syscall => InnerException as SyscallException;
}

/// <summary>Idmapped mounts (MOUNT_ATTR_IDMAP): opening the user namespace, applying it, and explaining a refusal.</summary>
public static class IdMapping
{
    /// <summary>Opens the user namespace named by <paramref name="source"/> and checks it can idmap (kernel-notes N12).</summary>
    public static OpenedUserNamespace Open(IdMapSource source, Func<string, string> resolvePath)
    {
        SafePathHandle handle;
        string description;
        string subject;
        int? processId = null;
        try
        {
            if (source.Container is { } ns)
            {
                processId = ns.ProcessId;
                subject = $"/proc/{ns.ProcessId}/ns/user";
                handle = ns.OpenUserNamespace();
                description = $"the user namespace of {(ns.Name is null ? $"PID {ns.ProcessId}" : $"{ns.Runtime} '{ns.Name}' (PID {ns.ProcessId})")}";
            }
            else
            {
                string path = resolvePath(source.Path!);
                subject = path;
                processId = ProcPidOf(path);
                handle = MountSyscalls.Open(path, OpenFlags.ReadOnly);
                description = $"the user namespace at '{path}'";
            }
        }
        catch (SyscallException ex) when (source.Container is not null && ex.Errno is Errno.ESRCH or Errno.ENOENT)
        {
            throw new IdMapException(IdMapFailure.ContainerExited, $"The container process {source.Container.ProcessId} has exited.", ex);
        }
        catch (SyscallException ex)
        {
            throw new IdMapException(IdMapFailure.NotUserNamespace, $"Could not open {source}.", ex);
        }
        catch (ObjectDisposedException)
        {
            throw new IdMapException(IdMapFailure.ContainerExited, $"The ContainerNamespace of PID {source.Container!.ProcessId} has been disposed.");
        }

        try
        {
            NamespaceType type;
            try
            {
                type = MountSyscalls.GetNamespaceType(handle, subject);
            }
            catch (SyscallException ex)
            {
                throw new IdMapException(IdMapFailure.NotUserNamespace, $"{Capitalize(description)} is not a namespace file at all.", ex);
            }

            if (type != NamespaceType.User)
            {
                throw new IdMapException(IdMapFailure.NotUserNamespace,
                    $"{Capitalize(description)} is a {type.ToString().ToLowerInvariant()} namespace, not a user namespace.");
            }

            ulong inode;
            try
            {
                inode = MountSyscalls.Statx(handle, description).Inode;
            }
            catch (SyscallException ex)
            {
                throw new IdMapException(IdMapFailure.Failed, $"Could not inspect {description}.", ex);
            }

            if (inode == InitialUserNamespace())
            {
                throw new IdMapException(IdMapFailure.InitialNamespace,
                    $"{Capitalize(description)} is the host's own (initial) user namespace: an idmapped mount through it would map nothing, and the kernel refuses it (EPERM).");
            }

            return new OpenedUserNamespace(handle, inode, description, processId);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Applies the idmap to the detached mount. When the kernel refuses with EINVAL, the source's filesystems are
    /// probed one mount at a time (a clone of each, idmapped on its own), so the message names the ones that cannot; for
    /// a <paramref name="newFileSystem"/> (New-StagedMount -FileSystem) there is no path to probe, and its type is named.
    /// A namespace without id maps is named as that, since the kernel says EINVAL for it too.
    /// </summary>
    internal static void Apply(SafeMountHandle mount, OpenedUserNamespace userns, string source, bool recursive, string? newFileSystem = null)
    {
        int errno = MountSyscalls.TryMountSetIdMap(mount, userns.Handle, recursive);
        if (errno == 0)
        {
            return;
        }

        SyscallException cause = SyscallException.Create("mount_setattr", errno, source, detail: "(MOUNT_ATTR_IDMAP)");
        if (errno == (int)Errno.EINVAL && userns.IsUnmapped())
        {
            throw Unmapped(userns, cause);
        }

        if (errno != (int)Errno.EINVAL)
        {
            string what = newFileSystem is null ? $"the clone of '{source}'" : $"the new {newFileSystem} mount";
            throw new IdMapException(IdMapFailure.Failed, $"Could not idmap {what} through {userns.Description}.", cause);
        }

        if (newFileSystem is not null)
        {
            throw new IdMapException(IdMapFailure.NotSupported,
                $"Cannot make an idmapped mount of the new {newFileSystem}: this kernel's {newFileSystem} does not support idmapped mounts.", cause);
        }

        IReadOnlyList<(string MountPoint, string FileSystem)> unsupported = Probe(source, recursive, userns);
        string which = unsupported.Count == 0
            ? "the kernel refused it (EINVAL) although each of its filesystems accepts idmapping on its own"
            : "these filesystems do not support idmapped mounts: " + string.Join(", ", unsupported.Select(u => $"{u.FileSystem} at {u.MountPoint}"));
        throw new IdMapException(IdMapFailure.NotSupported, $"Cannot make an idmapped mount of '{source}': {which}.", cause);
    }

    /// <summary>The refusal of an idmap through a namespace that has no uid or gid map yet.</summary>
    private static IdMapException Unmapped(OpenedUserNamespace userns, SyscallException cause) =>
        new(IdMapFailure.Unmapped,
            $"Cannot idmap through {userns.Description}: it has no uid or gid map yet (/proc/{userns.ProcessId}/uid_map or gid_map is empty), and the kernel refuses an idmap through a namespace that maps nothing.",
            cause);

    // "/proc/123/ns/user" names the user namespace of process 123, whose maps can then be read; any other path cannot tell.
    private static int? ProcPidOf(string path)
    {
        string[] parts = path.Split('/');
        return parts.Length == 5 && parts[0].Length == 0 && parts[1] == "proc" && parts[3] == "ns" && parts[4] == "user"
            && int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
            ? pid : null;
    }

    /// <summary>The host id of the overflow user "nobody", as which unmapped ids show inside a user namespace.</summary>
    public static uint OverflowUid
    {
        get
        {
            try
            {
                return uint.Parse(File.ReadAllText("/proc/sys/kernel/overflowuid").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                return 65534;
            }
        }
    }

    private static IReadOnlyList<(string, string)> Probe(string source, bool recursive, OpenedUserNamespace userns)
    {
        var failing = new List<(string, string)>();
        IReadOnlyList<MountInfo> table = MountInfoParser.Read();
        var places = new List<(string Path, MountInfo? Row)>();
        try
        {
            using SafePathHandle handle = MountSyscalls.Open(source, OpenFlags.Path);
            ulong id = MountSyscalls.Statx(handle, source, uniqueMountId: false).MountId;
            places.Add((source, table.FirstOrDefault(m => (ulong)m.MountId == id)));
        }
        catch (SyscallException)
        {
            return failing;
        }

        if (recursive)
        {
            string prefix = source.TrimEnd('/') + "/";
            places.AddRange(table.Where(m => m.MountPoint.StartsWith(prefix, StringComparison.Ordinal)).Select(m => (m.MountPoint, (MountInfo?)m)));
        }

        foreach ((string path, MountInfo? row) in places)
        {
            try
            {
                using SafeMountHandle clone = MountSyscalls.OpenTree(null, path, OpenTreeFlags.Clone | OpenTreeFlags.SymlinkNoFollow);
                if (MountSyscalls.TryMountSetIdMap(clone, userns.Handle, recursive: false) == (int)Errno.EINVAL)
                {
                    failing.Add((row?.MountPoint ?? path, row?.FileSystemType ?? "unknown"));
                }
            }
            catch (SyscallException)
            {
                // Not clonable on its own (e.g. an unbindable mount): it says nothing about idmapping.
            }
        }

        return failing;
    }

    // PID 1's is the initial user namespace; where /proc/1 is hidden, host root's own is the same one.
    private static ulong? InitialUserNamespace()
    {
        foreach (string path in new[] { "/proc/1/ns/user", "/proc/self/ns/user" })
        {
            try
            {
                return ContainerNamespace.NamespaceInode(path);
            }
            catch (SyscallException)
            {
            }
        }

        return null;
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
