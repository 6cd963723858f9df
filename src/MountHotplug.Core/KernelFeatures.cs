namespace MountHotplug;

/// <summary>The parts of the mount API whose presence depends on the running kernel.</summary>
public enum KernelFeature
{
    /// <summary>open_tree(2), 5.2.</summary>
    OpenTree,

    /// <summary>move_mount(2), 5.2.</summary>
    MoveMount,

    /// <summary>mount_setattr(2), 5.12.</summary>
    MountSetAttr,

    /// <summary>openat2(2), 5.6.</summary>
    OpenAt2,

    /// <summary>pidfd_open(2), 5.3.</summary>
    PidfdOpen,

    /// <summary>move_mount(MOVE_MOUNT_SET_GROUP), 5.15.</summary>
    MoveMountSetGroup,

    /// <summary>fsopen(2), fsconfig(2) and fsmount(2), 5.2.</summary>
    FsOpen,

    /// <summary>mount_setattr(MOUNT_ATTR_IDMAP): idmapped mounts, 5.12.</summary>
    IdmappedMounts,

    /// <summary>setns(2) with a pidfd, 5.8.</summary>
    SetnsPidfd,

    /// <summary>move_mount(MOVE_MOUNT_BENEATH), 6.5.</summary>
    MoveMountBeneath,

    /// <summary>statmount(2) and listmount(2), 6.8.</summary>
    StatMountListMount,

    /// <summary>open_tree_attr(2), 6.15.</summary>
    OpenTreeAttr,

    /// <summary>fanotify mount notifications (FAN_REPORT_MNT, FAN_MARK_MNTNS, FAN_MNT_ATTACH/DETACH), 6.15.</summary>
    MountNotifications,

    /// <summary>
    /// Sealed mounts (Move-MountIntoNamespace -Seal): a copy into a less privileged user namespace's mount namespace
    /// locks the mount's flags (MNT_LOCK_*). Probed by doing it in a throwaway user namespace (mhp-seal probe).
    /// </summary>
    Seal,
}

/// <summary>What probing one feature found.</summary>
/// <param name="Feature">The feature.</param>
/// <param name="Supported">True or false; null when the probe could not tell (the flag is checked after a permission
/// check that failed: run as root to know).</param>
/// <param name="Evidence">The call that was made and what it returned, e.g. <c>move_mount(-1, "", -1, "", MOVE_MOUNT_BENEATH) = ENOENT</c>.</param>
public sealed record KernelFeatureProbe(KernelFeature Feature, bool? Supported, string Evidence);

/// <summary>
/// Whether the running kernel has a call, found by calling it with arguments it must refuse (ENOSYS or an unknown-flag
/// EINVAL means absent), never by parsing the version string: distributions backport, and seccomp filters hide calls.
/// </summary>
public static class KernelFeatures
{
    /// <summary>Whether the calling process holds CAP_SYS_ADMIN in its user namespace (the mount API and setns need it).</summary>
    public static bool HasCapSysAdmin() => MountSyscalls.HasCapSysAdmin();

    private const int IntMax = int.MaxValue;
    private const int CloneNewCgroup = 0x02000000;

    // Indexed by the feature: a Dictionary keyed by an enum is code the JIT has to compile in every process (ReadyToRun
    // images hold no instantiation of the framework's generics over the module's value types), arrays are not.
    private static readonly KernelFeatureProbe?[] Cache = new KernelFeatureProbe?[Enum.GetValues(typeof(KernelFeature)).Length];
    private static readonly bool?[] Overrides = new bool?[Cache.Length];

    /// <summary>Every feature, in the order the kernel gained them.</summary>
    public static IReadOnlyList<KernelFeature> All { get; } =
    [
        KernelFeature.OpenTree, KernelFeature.MoveMount, KernelFeature.FsOpen, KernelFeature.PidfdOpen, KernelFeature.OpenAt2,
        KernelFeature.SetnsPidfd, KernelFeature.MountSetAttr, KernelFeature.IdmappedMounts, KernelFeature.Seal, KernelFeature.MoveMountSetGroup,
        KernelFeature.MoveMountBeneath, KernelFeature.StatMountListMount, KernelFeature.OpenTreeAttr, KernelFeature.MountNotifications,
    ];

    /// <summary>The mainline version that introduced each feature, for error messages.</summary>
    public static string IntroducedIn(KernelFeature feature) => feature switch
    {
        KernelFeature.OpenTree or KernelFeature.MoveMount or KernelFeature.FsOpen => "5.2",
        KernelFeature.PidfdOpen => "5.3",
        KernelFeature.OpenAt2 => "5.6",
        KernelFeature.SetnsPidfd => "5.8",
        // Seal: the lock bits are older (3.x); the helper's calls (fsmount, pidfd_getfd, mount_setattr) need 5.12.
        KernelFeature.MountSetAttr or KernelFeature.IdmappedMounts or KernelFeature.Seal => "5.12",
        KernelFeature.MoveMountSetGroup => "5.15",
        KernelFeature.MoveMountBeneath => "6.5",
        KernelFeature.StatMountListMount => "6.8",
        KernelFeature.OpenTreeAttr or KernelFeature.MountNotifications => "6.15",
        _ => "?",
    };

    /// <summary>The system call (or flag) a feature is, for error messages.</summary>
    public static string SyscallName(KernelFeature feature) => feature switch
    {
        KernelFeature.OpenTree => "open_tree",
        KernelFeature.MoveMount => "move_mount",
        KernelFeature.MountSetAttr => "mount_setattr",
        KernelFeature.OpenAt2 => "openat2",
        KernelFeature.PidfdOpen => "pidfd_open",
        KernelFeature.MoveMountSetGroup => "move_mount(MOVE_MOUNT_SET_GROUP)",
        KernelFeature.FsOpen => "fsopen/fsconfig/fsmount",
        KernelFeature.IdmappedMounts => "mount_setattr(MOUNT_ATTR_IDMAP) (idmapped mounts)",
        KernelFeature.SetnsPidfd => "setns with a pidfd",
        KernelFeature.MoveMountBeneath => "move_mount(MOVE_MOUNT_BENEATH)",
        KernelFeature.StatMountListMount => "statmount/listmount",
        KernelFeature.OpenTreeAttr => "open_tree_attr",
        KernelFeature.MountNotifications => "fanotify_init(FAN_REPORT_MNT) (mount notifications)",
        KernelFeature.Seal => "sealed mounts (MNT_LOCK_* through the container's user namespace)",
        _ => feature.ToString(),
    };

    /// <summary>
    /// Whether the kernel has <paramref name="feature"/>. A probe that cannot tell (no CAP_SYS_ADMIN) counts as present:
    /// the call itself then fails with EPERM, which is the error that caller needs to see.
    /// </summary>
    public static bool IsSupported(KernelFeature feature) => Probe(feature).Supported ?? true;

    /// <summary>Probes <paramref name="feature"/> (once; a definite answer is cached for the life of the process).</summary>
    public static KernelFeatureProbe Probe(KernelFeature feature)
    {
        lock (Cache)
        {
            if (Overrides[(int)feature] is { } overridden)
            {
                return new KernelFeatureProbe(feature, overridden, $"overridden for a test: {(overridden ? "present" : "absent")}");
            }

            KernelFeatureProbe? probe = Cache[(int)feature];
            if (probe is null)
            {
                probe = Run(feature);
                if (probe.Supported is not null)
                {
                    Cache[(int)feature] = probe;
                }
            }

            return probe;
        }
    }

    /// <summary>
    /// For tests only (reached through InternalsVisibleTo, never from configuration a user could set by accident):
    /// makes <see cref="Probe"/> and <see cref="IsSupported"/> report <paramref name="supported"/> for
    /// <paramref name="feature"/> until the returned object is disposed.
    /// </summary>
    internal static IDisposable OverrideForTesting(KernelFeature feature, bool supported)
    {
        lock (Cache)
        {
            bool? previous = Overrides[(int)feature];
            Overrides[(int)feature] = supported;
            return new Restore(() =>
            {
                lock (Cache)
                {
                    Overrides[(int)feature] = previous;
                }
            });
        }
    }

    private static unsafe KernelFeatureProbe Run(KernelFeature feature)
    {
        byte empty = 0;
        nint e = (nint)(&empty);
        switch (feature)
        {
            case KernelFeature.OpenTree:
                return Exists(feature, "open_tree(-1, \"\", 0)", Interop.Syscall(SyscallNumbers.OpenTree, out int errno, -1, e, 0), errno);
            case KernelFeature.MoveMount:
                return Exists(feature, "move_mount(-1, \"\", -1, \"\", 0)", Interop.Syscall(SyscallNumbers.MoveMount, out errno, -1, e, -1, e, 0), errno);
            case KernelFeature.MountSetAttr:
                return Exists(feature, "mount_setattr(-1, \"\", 0, NULL, 0)", Interop.Syscall(SyscallNumbers.MountSetAttr, out errno, -1, e, 0, 0, 0), errno);
            case KernelFeature.OpenAt2:
                return Exists(feature, "openat2(-1, \"\", NULL, 0)", Interop.Syscall(SyscallNumbers.OpenAt2, out errno, -1, e, 0, 0), errno);
            case KernelFeature.PidfdOpen:
                return Exists(feature, "pidfd_open(-1, 0)", Interop.Syscall(SyscallNumbers.PidfdOpen, out errno, -1, 0), errno);
            case KernelFeature.StatMountListMount:
            {
                KernelFeatureProbe stat = Exists(feature, "statmount(NULL, NULL, 0, 0)", Interop.Syscall(SyscallNumbers.StatMount, out errno, 0, 0, 0, 0), errno);
                KernelFeatureProbe list = Exists(feature, "listmount(NULL, NULL, 0, 0)", Interop.Syscall(SyscallNumbers.ListMount, out errno, 0, 0, 0, 0), errno);
                return new KernelFeatureProbe(feature, stat.Supported == true && list.Supported == true, $"{stat.Evidence}; {list.Evidence}");
            }

            case KernelFeature.OpenTreeAttr:
                return Exists(feature, "open_tree_attr(-1, \"\", 0, NULL, 0)", Interop.Syscall(SyscallNumbers.OpenTreeAttr, out errno, -1, e, 0, 0, 0), errno);
            case KernelFeature.MountNotifications:
            {
                // An unknown init flag is EINVAL; a group made to try it is closed again at once.
                long fd = Interop.Syscall(SyscallNumbers.FanotifyInit, out errno, (nint)(MountSyscalls.FanReportMnt | MountSyscalls.FanCloexec), 0);
                if (fd >= 0)
                {
                    Interop.Syscall(SyscallNumbers.Close, out _, (nint)fd);
                }

                return Flag(feature, "fanotify_init(FAN_REPORT_MNT|FAN_CLOEXEC, O_RDONLY)", fd, errno);
            }
            case KernelFeature.FsOpen:
            {
                // fsopen("") names no filesystem (ENODEV); fsconfig and fsmount on fd -1 are EBADF. Nothing is created.
                KernelFeatureProbe open = Exists(feature, "fsopen(\"\", 0)", Interop.Syscall(SyscallNumbers.FsOpen, out errno, e, 0), errno);
                KernelFeatureProbe config = Exists(feature, "fsconfig(-1, FSCONFIG_CMD_CREATE, NULL, NULL, 0)",
                    Interop.Syscall(SyscallNumbers.FsConfig, out errno, -1, 6, 0, 0, 0), errno);
                KernelFeatureProbe mount = Exists(feature, "fsmount(-1, 0, 0)", Interop.Syscall(SyscallNumbers.FsMount, out errno, -1, 0, 0), errno);
                return new KernelFeatureProbe(feature, open.Supported == true && config.Supported == true && mount.Supported == true,
                    $"{open.Evidence}; {config.Evidence}; {mount.Evidence}");
            }

            case KernelFeature.MoveMountSetGroup:
            case KernelFeature.MoveMountBeneath:
            {
                // Unknown move_mount flags are EINVAL before any lookup; a known flag gets as far as the empty path
                // (ENOENT). The permission check comes first, so without CAP_SYS_ADMIN (EPERM) the probe cannot tell.
                MoveMountFlags flag = feature == KernelFeature.MoveMountSetGroup ? MoveMountFlags.SetGroup : MoveMountFlags.Beneath;
                string call = $"move_mount(-1, \"\", -1, \"\", {(feature == KernelFeature.MoveMountSetGroup ? "MOVE_MOUNT_SET_GROUP" : "MOVE_MOUNT_BENEATH")})";
                long rc = Interop.Syscall(SyscallNumbers.MoveMount, out errno, -1, e, -1, e, (nint)flag);
                return Flag(feature, call, rc, errno);
            }

            case KernelFeature.IdmappedMounts:
            {
                // MOUNT_ATTR_IDMAP with a user-namespace fd that cannot be open: EBADF once the attribute is known,
                // EINVAL where it is not. Checked before any path lookup; nothing changes.
                ulong* attr = stackalloc ulong[4] { (ulong)MountAttributes.IdMap, 0, 0, IntMax };
                long rc = Interop.Syscall(SyscallNumbers.MountSetAttr, out errno, -1, e, (nint)AtEmptyPathFlag, (nint)attr, 32);
                return Flag(feature, "mount_setattr(-1, \"\", AT_EMPTY_PATH, {attr_set=MOUNT_ATTR_IDMAP, userns_fd=INT_MAX})", rc, errno);
            }

            case KernelFeature.SetnsPidfd:
                return ProbeSetnsPidfd();
            case KernelFeature.Seal:
                return Sealer.Probe();
            default:
                return new KernelFeatureProbe(feature, false, "no probe");
        }
    }

    private const uint AtEmptyPathFlag = 0x1000;

    private static KernelFeatureProbe Exists(KernelFeature feature, string call, long rc, int errno) =>
        new(feature, rc >= 0 || errno != (int)Errno.ENOSYS, $"{call} = {Result(rc, errno)}");

    private static KernelFeatureProbe Flag(KernelFeature feature, string call, long rc, int errno) =>
        new(feature, errno switch
        {
            (int)Errno.ENOSYS or (int)Errno.EINVAL => false,
            (int)Errno.EPERM => null,
            _ => true,
        }, $"{call} = {Result(rc, errno)}{(errno == (int)Errno.EPERM ? " (needs CAP_SYS_ADMIN to tell)" : string.Empty)}");

    private static string Result(long rc, int errno) => rc >= 0 ? rc.ToString(System.Globalization.CultureInfo.InvariantCulture) : ErrnoText.Name(errno);

    /// <summary>
    /// setns(pidfd of this process, CLONE_NEWCGROUP) on a thread of its own that ends right after: joining the cgroup
    /// namespace one is already in changes nothing. Before 5.8 a pidfd is not a namespace file: EINVAL. From 5.8 the
    /// call succeeds (or, without CAP_SYS_ADMIN, EPERM: the pidfd was accepted).
    /// </summary>
    private static KernelFeatureProbe ProbeSetnsPidfd()
    {
        long pidfd = Interop.Syscall(SyscallNumbers.PidfdOpen, out int openErrno, Environment.ProcessId, 0);
        if (pidfd < 0)
        {
            return new KernelFeatureProbe(KernelFeature.SetnsPidfd, openErrno == (int)Errno.ENOSYS ? false : null,
                $"pidfd_open(self) = {ErrnoText.Name(openErrno)}");
        }

        long rc = 0;
        int errno = 0;
        try
        {
            var thread = new Thread(() => rc = Interop.Syscall(SyscallNumbers.SetNs, out errno, (nint)pidfd, CloneNewCgroup), 64 * 1024)
            {
                IsBackground = true,
                Name = "MountHotplug setns probe",
            };
            thread.Start();
            thread.Join();
        }
        finally
        {
            Interop.Syscall(SyscallNumbers.Close, out _, (nint)pidfd);
        }

        bool? supported = rc == 0 || errno == (int)Errno.EPERM ? true : errno is (int)Errno.EINVAL or (int)Errno.ENOSYS ? false : null;
        return new KernelFeatureProbe(KernelFeature.SetnsPidfd, supported, $"setns(pidfd of self, CLONE_NEWCGROUP) = {Result(rc, errno)}");
    }

    private sealed class Restore(Action action) : IDisposable
    {
        private Action? _action = action;

        public void Dispose()
        {
            Interlocked.Exchange(ref _action, null)?.Invoke();
        }
    }
}
