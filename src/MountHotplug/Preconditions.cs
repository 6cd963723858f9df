using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>What every cmdlet checks before its first item: these failures are terminating, since no item could succeed.</summary>
internal static class Preconditions
{
    /// <summary>For commands that only read: listing your own mount table needs no privilege (another namespace's does, and says so).</summary>
    internal static void RequireLinux(PSCmdlet cmdlet)
    {
        if (!OperatingSystem.IsLinux())
        {
            cmdlet.ThrowTerminatingError(MountErrors.Plain("NotLinux", ErrorCategory.NotImplemented, null,
                "MountHotplug works only on Linux: it drives the Linux mount API (open_tree, move_mount, mount_setattr).",
                "Run it on a Linux host with pwsh 7.4 or later."));
        }
    }

    internal static void Require(PSCmdlet cmdlet, params KernelFeature[] features)
    {
        RequireLinux(cmdlet);
        if (!MountSyscalls.HasCapSysAdmin())
        {
            cmdlet.ThrowTerminatingError(MountErrors.Plain("NoCapSysAdmin", ErrorCategory.PermissionDenied, null,
                $"{cmdlet.MyInvocation.MyCommand.Name} needs CAP_SYS_ADMIN: mount namespaces and the mount API are root's.",
                "Run pwsh as root (sudo pwsh), or grant the process CAP_SYS_ADMIN."));
        }

        foreach (KernelFeature feature in features)
        {
            if (!KernelFeatures.IsSupported(feature))
            {
                string syscall = KernelFeatures.SyscallName(feature);
                string version = KernelFeatures.IntroducedIn(feature);
                cmdlet.ThrowTerminatingError(MountErrors.Plain("KernelTooOld", ErrorCategory.NotImplemented, feature,
                    $"This kernel ({Environment.OSVersion.Version}) lacks {syscall} (probing it gave ENOSYS or EINVAL); it came with Linux {version}.",
                    $"Run on Linux {version} or later (MountHotplug needs 5.15 for every feature)."));
            }
        }
    }
}
