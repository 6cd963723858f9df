using System.Management.Automation;

namespace MountHotplug;

/// <summary>The kernel features each command (or mode of one) calls: one table, for the checks and for Get-MountApiSupport.</summary>
internal static class Requirements
{
    internal static readonly KernelFeature[] NewStagedMountPath = [KernelFeature.OpenTree, KernelFeature.MountSetAttr];
    internal static readonly KernelFeature[] NewStagedMountFileSystem = [KernelFeature.FsOpen, KernelFeature.MountSetAttr];
    internal static readonly KernelFeature[] NewStagedMountIdMap = [KernelFeature.IdmappedMounts];
    internal static readonly KernelFeature[] GetStagedMount = [KernelFeature.OpenTree];
    internal static readonly KernelFeature[] GetContainerNamespace = [KernelFeature.PidfdOpen];
    internal static readonly KernelFeature[] MoveMountIntoNamespace = [KernelFeature.MoveMount, KernelFeature.OpenAt2, KernelFeature.PidfdOpen, KernelFeature.SetnsPidfd];
    internal static readonly KernelFeature[] MoveMountIntoNamespaceReplace = [KernelFeature.MoveMountBeneath];
    internal static readonly KernelFeature[] MoveMountIntoNamespaceSeal = [KernelFeature.Seal];
    internal static readonly KernelFeature[] SetMountGroup = [KernelFeature.MoveMount, KernelFeature.OpenAt2, KernelFeature.MoveMountSetGroup];
    internal static readonly KernelFeature[] RemoveMount = [KernelFeature.OpenAt2, KernelFeature.PidfdOpen, KernelFeature.SetnsPidfd];
    internal static readonly KernelFeature[] WatchMount = [KernelFeature.MountNotifications, KernelFeature.StatMountListMount];
    internal static readonly KernelFeature[] SetMountAttribute = [KernelFeature.MountSetAttr, KernelFeature.OpenAt2, KernelFeature.PidfdOpen];
    internal static readonly KernelFeature[] RestoreMountTopology =
        [KernelFeature.OpenTree, KernelFeature.MoveMount, KernelFeature.MountSetAttr, KernelFeature.OpenAt2, KernelFeature.PidfdOpen, KernelFeature.MoveMountSetGroup];

    // Sync compares and records mounts by their unique ids (statx and statmount, 6.8) and replaces with MOVE_MOUNT_BENEATH.
    internal static readonly KernelFeature[] SyncContainerMount =
    [
        KernelFeature.OpenTree, KernelFeature.MountSetAttr, KernelFeature.MoveMount, KernelFeature.OpenAt2, KernelFeature.PidfdOpen,
        KernelFeature.SetnsPidfd, KernelFeature.MoveMountBeneath, KernelFeature.StatMountListMount,
    ];

    /// <summary>"New-StagedMount -Path", … for each feature: which commands stop without it.</summary>
    internal static IReadOnlyList<string> UsedBy(KernelFeature feature)
    {
        var uses = new (string Command, KernelFeature[] Features)[]
        {
            ("New-StagedMount -Path", NewStagedMountPath),
            ("New-StagedMount -FileSystem", NewStagedMountFileSystem),
            ("New-StagedMount -IdMap", NewStagedMountIdMap),
            ("Get-StagedMount", GetStagedMount),
            ("Get-ContainerNamespace", GetContainerNamespace),
            ("Move-MountIntoNamespace", MoveMountIntoNamespace),
            ("Move-MountIntoNamespace -Replace", MoveMountIntoNamespaceReplace),
            ("Move-MountIntoNamespace -Seal", MoveMountIntoNamespaceSeal),
            ("Set-MountGroup", SetMountGroup),
            ("Remove-Mount", RemoveMount),
            ("Watch-Mount", WatchMount),
            ("Sync-ContainerMount", SyncContainerMount),
            ("Set-MountAttribute", SetMountAttribute),
            ("Restore-MountTopology", RestoreMountTopology),
        };
        // Loops, not LINQ over the tuples: those instantiations would be JIT-compiled in every process (ReadyToRun has none).
        var commands = new List<string>();
        foreach (var (command, features) in uses)
        {
            foreach (KernelFeature needed in features)
            {
                if (needed == feature)
                {
                    commands.Add(command);
                    break;
                }
            }
        }

        return commands;
    }
}

/// <summary>What every cmdlet checks before its first item: these failures are terminating, since no item could succeed.</summary>
internal static class Preconditions
{
    /// <summary>Linux, CAP_SYS_ADMIN, then each feature in <paramref name="features"/>.</summary>
    internal static void Require(PSCmdlet cmdlet, params KernelFeature[] features) => Require(cmdlet, null, features);

    /// <summary>Linux, CAP_SYS_ADMIN, then each feature that <paramref name="mode"/> ("-FileSystem") of the command needs.</summary>
    internal static void Require(PSCmdlet cmdlet, string? mode, params KernelFeature[] features)
    {
        RequireLinux(cmdlet);
        if (!KernelFeatures.HasCapSysAdmin())
        {
            cmdlet.ThrowTerminatingError(MountErrors.Plain(ErrorId.NoCapSysAdmin, ErrorCategory.PermissionDenied, null,
                $"{cmdlet.MyInvocation.MyCommand.Name} needs CAP_SYS_ADMIN: mount namespaces and the mount API are root's.",
                "Run pwsh as root (sudo pwsh), or grant the process CAP_SYS_ADMIN."));
        }

        RequireFeatures(cmdlet, mode, features);
    }

    internal static void RequireLinux(PSCmdlet cmdlet)
    {
        if (!OperatingSystem.IsLinux())
        {
            cmdlet.ThrowTerminatingError(MountErrors.Plain(ErrorId.NotLinux, ErrorCategory.NotImplemented, null,
                "MountHotplug works only on Linux: it drives the Linux mount API (open_tree, move_mount, mount_setattr).",
                "Run it on a Linux host with pwsh 7.4 or later."));
        }
    }

    /// <summary>
    /// Stops the command with KernelTooOld when the kernel lacks one of <paramref name="features"/> (as probed by
    /// calling it), naming the feature, the version that introduced it and what the probe saw.
    /// </summary>
    /// <param name="mode">The parameter that needs the features ("-Replace"), or null for the command as such.</param>
    internal static void RequireFeatures(PSCmdlet cmdlet, string? mode, params KernelFeature[] features)
    {
        foreach (KernelFeature feature in features)
        {
            KernelFeatureProbe probe = KernelFeatures.Probe(feature);
            if (probe.Supported != false)
            {
                continue;
            }

            string name = KernelFeatures.SyscallName(feature);
            string version = KernelFeatures.IntroducedIn(feature);
            string command = cmdlet.MyInvocation.MyCommand.Name + (mode is null ? string.Empty : " " + mode);
            string extra = feature == KernelFeature.MoveMountBeneath
                ? " -Replace never falls back to stacking the new mount on the old one; without -Replace you can attach at another path, or stack with -Force."
                : string.Empty;
            cmdlet.ThrowTerminatingError(MountErrors.Plain(ErrorId.KernelTooOld, ErrorCategory.NotImplemented, feature,
                $"{command} needs {name}, which came with Linux {version}; this kernel ({KernelRelease}) lacks it: {probe.Evidence}.",
                $"Run it on Linux {version} or later (Get-MountApiSupport lists what this kernel has).{extra}"));
        }
    }

    /// <summary>uname -r, e.g. "6.18.44-fc-v769".</summary>
    internal static string KernelRelease
    {
        get
        {
            try
            {
                return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Environment.OSVersion.Version.ToString();
            }
        }
    }
}
