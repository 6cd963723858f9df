using System.Globalization;

namespace MountHotplug.Runtimes;

/// <summary>
/// Proxmox VE names its LXC containers by CT ID ("101"), in /var/lib/lxc. Asked without -Runtime only on a Proxmox host
/// (one with /etc/pve/lxc), where it reports those containers as Proxmox ones.
/// </summary>
internal sealed class ProxmoxResolver(string? lxcPath) : LxcResolver(lxcPath ?? FallbackLxcPath)
{
    internal const string PveConfigDirectory = "/etc/pve/lxc";

    internal override ContainerRuntime Runtime => ContainerRuntime.Proxmox;

    internal override bool TakesPartInAutoDetect => Directory.Exists(PveConfigDirectory);

    /// <summary>Proxmox CT IDs are 100 to 999999999.</summary>
    internal static bool IsCtId(string name) =>
        name.Length is >= 3 and <= 9 && name.All(char.IsAsciiDigit) && name[0] != '0'
        && int.Parse(name, CultureInfo.InvariantCulture) >= 100;

    protected override bool Accepts(string name) => IsCtId(name);
}
