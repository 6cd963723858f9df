namespace MountHotplug.Sandbox;

/// <summary>How a sandbox container's root directory is set up.</summary>
public enum SandboxKind
{
    /// <summary>
    /// The rootfs is bind-mounted onto itself and made the root of the container's mount namespace with
    /// pivot_root, like runc, crun, LXC and nspawn do: "/" inside is the root mount of the namespace.
    /// </summary>
    PivotRoot,

    /// <summary>
    /// The init is only chroot'ed into the rootfs directory: its root is a plain directory, not the root
    /// mount of its mount namespace, which still holds the host's whole mount tree underneath.
    /// </summary>
    Chroot,
}
