namespace MountHotplug;

/// <summary>The container managers Get-ContainerNamespace -Name knows how to ask.</summary>
public enum ContainerRuntime
{
    /// <summary>LXC: lxc-info in the lxcpath (default, or -LxcPath), found through the "[lxc monitor]" processes.</summary>
    Lxc,

    /// <summary>Proxmox VE: LXC containers named by their numeric CT ID, in /var/lib/lxc.</summary>
    Proxmox,

    /// <summary>runc: its state directory, /run/runc/ID/state.json.</summary>
    Runc,

    /// <summary>crun: its state directory, /run/crun/ID/status.</summary>
    Crun,

    /// <summary>podman: podman inspect (CONTAINER_HOST is honored by podman itself).</summary>
    Podman,

    /// <summary>docker: docker inspect against DOCKER_HOST or /var/run/docker.sock.</summary>
    Docker,

    /// <summary>systemd-nspawn: systemd-machined's state when it runs, else the systemd-nspawn process tree.</summary>
    Nspawn,

    /// <summary>LXD: its REST API on the daemon's unix socket ($LXD_DIR, /var/lib/lxd or the snap's), cross-checked against
    /// the liblxc monitor of each container. Containers of another project than "default" are named "PROJECT:NAME".</summary>
    Lxd,

    /// <summary>Incus: as LXD, on Incus's socket ($INCUS_DIR or /var/lib/incus).</summary>
    Incus,
}
