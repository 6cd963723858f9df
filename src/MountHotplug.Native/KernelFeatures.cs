namespace MountHotplug.Native;

public enum KernelFeature
{
    OpenTree,
    MoveMount,
    MountSetAttr,
    OpenAt2,
    PidfdOpen,
    MoveMountSetGroup,
}

/// <summary>
/// Whether the running kernel has a call, found by calling it with arguments it must refuse (ENOSYS or an unknown-flag
/// EINVAL means absent), never by parsing the version string: distributions backport.
/// </summary>
public static class KernelFeatures
{
    private static readonly Dictionary<KernelFeature, bool> Cache = new();

    /// <summary>The mainline version that introduced each feature, for error messages.</summary>
    public static string IntroducedIn(KernelFeature feature) => feature switch
    {
        KernelFeature.OpenTree or KernelFeature.MoveMount => "5.2",
        KernelFeature.OpenAt2 => "5.6",
        KernelFeature.PidfdOpen => "5.3",
        KernelFeature.MountSetAttr => "5.12",
        KernelFeature.MoveMountSetGroup => "5.15",
        _ => "?",
    };

    /// <summary>The system call a feature is, for error messages.</summary>
    public static string SyscallName(KernelFeature feature) => feature switch
    {
        KernelFeature.OpenTree => "open_tree",
        KernelFeature.MoveMount => "move_mount",
        KernelFeature.MountSetAttr => "mount_setattr",
        KernelFeature.OpenAt2 => "openat2",
        KernelFeature.PidfdOpen => "pidfd_open",
        KernelFeature.MoveMountSetGroup => "move_mount(MOVE_MOUNT_SET_GROUP)",
        _ => feature.ToString(),
    };

    public static bool IsSupported(KernelFeature feature)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(feature, out bool supported))
            {
                supported = Probe(feature);
                Cache[feature] = supported;
            }

            return supported;
        }
    }

    private static unsafe bool Probe(KernelFeature feature)
    {
        byte empty = 0;
        nint e = (nint)(&empty);
        int errno;
        switch (feature)
        {
            case KernelFeature.OpenTree:
                Interop.Syscall(SyscallNumbers.OpenTree, out errno, -1, e, 0);
                return errno != (int)Errno.ENOSYS;
            case KernelFeature.MoveMount:
                Interop.Syscall(SyscallNumbers.MoveMount, out errno, -1, e, -1, e, 0);
                return errno != (int)Errno.ENOSYS;
            case KernelFeature.MountSetAttr:
                Interop.Syscall(SyscallNumbers.MountSetAttr, out errno, -1, e, 0, 0, 0);
                return errno != (int)Errno.ENOSYS;
            case KernelFeature.OpenAt2:
                Interop.Syscall(SyscallNumbers.OpenAt2, out errno, -1, e, 0, 0);
                return errno != (int)Errno.ENOSYS;
            case KernelFeature.PidfdOpen:
                Interop.Syscall(SyscallNumbers.PidfdOpen, out errno, -1, 0);
                return errno != (int)Errno.ENOSYS;
            case KernelFeature.MoveMountSetGroup:
                // Unknown move_mount flags are EINVAL before any lookup; a known flag gets as far as the empty path (ENOENT).
                Interop.Syscall(SyscallNumbers.MoveMount, out errno, -1, e, -1, e, (nint)MoveMountFlags.SetGroup);
                return errno != (int)Errno.ENOSYS && errno != (int)Errno.EINVAL;
            default:
                return false;
        }
    }
}
