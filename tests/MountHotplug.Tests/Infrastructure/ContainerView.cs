using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// What a container sees: its mount table (as its init sees it) and files read from inside; and what the host beside it
/// must never see change.
/// </summary>
public static class ContainerView
{
    /// <summary>What the host must never see: entries in its /, /etc, /mnt and in the container's directory beside the rootfs.</summary>
    public static string HostListings(SandboxContainer container) =>
        string.Join("\n", new[] { "/", "/etc", "/mnt", Path.GetDirectoryName(container.RootfsPath)! }
            .Select(d => d + ": " + string.Join(' ', Directory.GetFileSystemEntries(d).Order(StringComparer.Ordinal))));

    public static IReadOnlyList<MountInfo> Mounts(SandboxContainer container) => MountInfoParser.Read(container.Pid);

    public static MountInfo? MountAt(SandboxContainer container, string mountPoint) =>
        Mounts(container).LastOrDefault(m => m.MountPoint == mountPoint);

    public static int CountAt(SandboxContainer container, string mountPoint) =>
        Mounts(container).Count(m => m.MountPoint == mountPoint);

    /// <summary>
    /// Every mount of the container's mount namespace, also those outside its root. A process's mountinfo leaves out
    /// mounts it cannot reach from its root, so for a chroot container, whose namespace still holds the host's whole
    /// tree, the init's table would hide a mount that escaped the chroot. The launcher (unshare, the init's parent)
    /// shares the namespace with the host's root as its own (pivot_root moved it along for the other kind).
    /// </summary>
    public static IReadOnlyList<MountInfo> NamespaceMounts(SandboxContainer container) => MountInfoParser.Read(FullViewPid(container));

    /// <summary>Where a path inside the container shows up in <see cref="NamespaceMounts"/>.</summary>
    public static string NamespacePath(SandboxContainer container, string containerPath) =>
        container.Kind == SandboxKind.Chroot ? container.RootfsPath + containerPath : containerPath;

    private static int FullViewPid(SandboxContainer container)
    {
        string stat = File.ReadAllText($"/proc/{container.Pid}/stat");
        int parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        string ns = new FileInfo($"/proc/{container.Pid}/ns/mnt").LinkTarget!;
        return new FileInfo($"/proc/{parent}/ns/mnt").LinkTarget == ns ? parent
            : throw new InvalidOperationException($"the parent {parent} of {container} is not in its mount namespace");
    }
}
