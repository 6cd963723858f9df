using MountHotplug.Native;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>What a container sees: its mount table (as its init sees it) and files read from inside.</summary>
public static class ContainerView
{
    public static IReadOnlyList<MountInfo> Mounts(SandboxContainer container) => MountInfoParser.Read(container.Pid);

    public static MountInfo? MountAt(SandboxContainer container, string mountPoint) =>
        Mounts(container).LastOrDefault(m => m.MountPoint == mountPoint);

    public static int CountAt(SandboxContainer container, string mountPoint) =>
        Mounts(container).Count(m => m.MountPoint == mountPoint);
}
