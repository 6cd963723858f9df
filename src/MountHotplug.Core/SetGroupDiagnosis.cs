namespace MountHotplug;

/// <summary>The conditions under which the kernel refuses MOVE_MOUNT_SET_GROUP with EINVAL (fs/namespace.c, do_set_group).</summary>
public enum SetGroupCondition
{
    /// <summary>The sides could not be inspected (a detached mount has no mountinfo row).</summary>
    Unknown,
    SourceNotMounted,
    TargetNotMounted,
    SourceNotMountRoot,
    TargetNotMountRoot,
    DifferentFilesystem,
    RootNotInside,
    LockedChildren,
    TargetNotPrivate,
    SourcePrivate,
}

/// <summary>One side of a SET_GROUP call, as far as it could be inspected.</summary>
/// <param name="Name">How the user named it, for messages.</param>
/// <param name="Mount">Its mountinfo row, or null if none was found.</param>
/// <param name="IsMountRoot">Whether the named path is the root of its mount (statx STATX_ATTR_MOUNT_ROOT).</param>
/// <param name="IsDetached">A staged (detached) mount: it is in no mount table, so it has no row to read.</param>
public sealed record SetGroupSide(string Name, MountInfo? Mount, bool IsMountRoot, bool IsDetached = false);

/// <summary>
/// The kernel answers one EINVAL for nine causes. This works out which one from the two mountinfo rows, so that a user
/// reads "Target is already shared (peer group 143)" instead of "Invalid argument". The conditions are checked in the
/// kernel's order (kernel-notes N13) but for one: locked child mounts do not show in mountinfo, so they are named only
/// when everything visible holds, last instead of seventh. When a locked child and a later condition both fail (Target
/// not private, Source private), the kernel refuses for the child and this names the later one; nothing here can see the
/// child to do better.
/// </summary>
public static class SetGroupDiagnosis
{
    public static (SetGroupCondition Condition, string Explanation) Explain(SetGroupSide source, SetGroupSide target)
    {
        if (source.IsDetached || target.IsDetached)
        {
            return (SetGroupCondition.Unknown,
                "A detached (staged) mount has no mount-table row to inspect. The kernel refuses when: a side is not a mount root, the two are on different filesystems, Target's root is not inside Source's, Target is already shared or a slave, or Source is private.");
        }

        if (source.Mount is null)
        {
            return (SetGroupCondition.SourceNotMounted, $"Source {source.Name} is not mounted (it was unmounted, or lazily detached); name a mounted path.");
        }

        if (target.Mount is null)
        {
            return (SetGroupCondition.TargetNotMounted, $"Target {target.Name} is not mounted (it was unmounted, or lazily detached); name a mounted path.");
        }

        MountInfo from = source.Mount, to = target.Mount;
        if (!source.IsMountRoot)
        {
            return (SetGroupCondition.SourceNotMountRoot, $"Source {source.Name} is not the root of a mount (it lies inside the mount at '{from.MountPoint}'); name the mount point itself.");
        }

        if (!target.IsMountRoot)
        {
            return (SetGroupCondition.TargetNotMountRoot, $"Target {target.Name} is not the root of a mount (it lies inside the mount at '{to.MountPoint}'); name the mount point itself.");
        }

        if (from.DeviceMajor != to.DeviceMajor || from.DeviceMinor != to.DeviceMinor)
        {
            return (SetGroupCondition.DifferentFilesystem,
                $"Source and Target are on different filesystems (device {from.DeviceMajor}:{from.DeviceMinor} {from.FileSystemType} vs {to.DeviceMajor}:{to.DeviceMinor} {to.FileSystemType}); a peer group only holds mounts of one superblock.");
        }

        if (!IsSubdirectory(to.Root, from.Root))
        {
            return (SetGroupCondition.RootNotInside,
                $"Target's root '{to.Root}' is not inside Source's root '{from.Root}' within the filesystem; use as Source a mount whose root contains the Target's (a wider bind).");
        }

        if (to.PeerGroup != 0 || to.Master != 0)
        {
            string what = to.PeerGroup != 0 ? $"shared (peer group {to.PeerGroup})" : $"a slave (of peer group {to.Master})";
            return (SetGroupCondition.TargetNotPrivate, $"Target is already {what}; make it private first (Set-MountAttribute -Propagation Private, or mount --make-private).");
        }

        if (from.PeerGroup == 0 && from.Master == 0)
        {
            return (SetGroupCondition.SourcePrivate, "Source is private, so it has no peer group to join; make it shared or a slave first.");
        }

        return (SetGroupCondition.LockedChildren,
            "None of the visible conditions fails, which leaves the last one: Source has locked child mounts (mounts a less privileged user namespace may not reveal) covering the Target's root.");
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="ancestor"/> or below it, by whole components.</summary>
    public static bool IsSubdirectory(string path, string ancestor)
    {
        if (ancestor == "/" || path == ancestor)
        {
            return true;
        }

        return path.StartsWith(ancestor.TrimEnd('/') + "/", StringComparison.Ordinal);
    }
}
