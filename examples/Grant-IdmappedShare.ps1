<#
.SYNOPSIS
    Gives an UNPRIVILEGED running container a writable share of a host directory: an idmapped mount, so the
    container's root owns the files inside, and what it writes lands on the host owned by the host's ids.
.DESCRIPTION
    Without idmapping, a host directory owned by host root shows as nobody (65534) inside a user-namespaced
    container and its root cannot write to it; the usual workaround is to chown the host directory into the
    container's id range (100000+), which breaks it for the host. This runbook stages the directory with
    New-StagedMount -IdMap (mount_setattr MOUNT_ATTR_IDMAP with the container's user namespace), attaches it
    nosuid and nodev, and creates the mount point owned by the container's root.
.EXAMPLE
    ./mhp -File examples/Grant-IdmappedShare.ps1 -CtId 105 -Path /tank/shared/build -Target /srv/build
.EXAMPLE
    ./mhp -File examples/Grant-IdmappedShare.ps1 -Name web01 -LxcPath /srv/lxc -Path /srv/www-data -Target /var/www
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'CtId')]
param(
    # Proxmox CT ID.
    [Parameter(Mandatory, ParameterSetName = 'CtId')]
    [string] $CtId,

    # Or an LXC container name (with -LxcPath when it is not in the default lxcpath).
    [Parameter(Mandatory, ParameterSetName = 'Name')]
    [string] $Name,

    [Parameter(ParameterSetName = 'Name')]
    [string] $LxcPath,

    # The host directory to share.
    [Parameter(Mandatory)]
    [string] $Path,

    # Where it appears inside the container.
    [Parameter(Mandatory)]
    [string] $Target
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Module MountHotplug)) { Import-Module MountHotplug }

$ct = if ($PSCmdlet.ParameterSetName -eq 'CtId') {
    Get-ContainerNamespace -Name $CtId -Runtime Proxmox
}
elseif ($LxcPath) {
    Get-ContainerNamespace -Name $Name -Runtime Lxc -LxcPath $LxcPath
}
else {
    Get-ContainerNamespace -Name $Name -Runtime Lxc
}

try {
    if (-not $ct.HasOwnUserNamespace) {
        throw "Container PID $($ct.ProcessId) shares the host's user namespace (a privileged container): it needs no idmapping; use Add-ReadOnlyDataset.ps1 or a plain New-StagedMount."
    }

    $mount = New-StagedMount -Path $Path -IdMap $ct -NoSuid -NoDev |
        Move-MountIntoNamespace -Namespace $ct -Target $Target -CreateTarget -PassThru
    if ($mount) {
        "Shared $Path at $Target inside PID $($ct.ProcessId), idmapped through user namespace $($ct.UserNamespaceId): the container's root owns it."
    }
}
finally {
    $ct.Dispose()
}
