<#
.SYNOPSIS
    Adds a host dataset (a directory) read-only to a RUNNING Proxmox/LXC container, without a restart.
.DESCRIPTION
    Stages a read-only, nosuid, nodev clone of the host path, attaches it inside the container (creating the mount
    point there if needed) and prints the container's view of the new mount. Nothing is changed on the host.
    The mount lasts until the container stops; add it to the CT config as well to keep it across restarts.
.EXAMPLE
    ./mhp -File examples/Add-ReadOnlyDataset.ps1 -CtId 101 -Path /tank/media -Target /mnt/media
.EXAMPLE
    ./mhp -File examples/Add-ReadOnlyDataset.ps1 -ProcessId 4242 -Path /srv/data -Target /mnt/data -WhatIf
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'CtId')]
param(
    # Proxmox CT ID (its LXC container name).
    [Parameter(Mandatory, ParameterSetName = 'CtId')]
    [string] $CtId,

    # Or the host PID of any container's init process.
    [Parameter(Mandatory, ParameterSetName = 'ProcessId')]
    [int] $ProcessId,

    # The host directory to add.
    [Parameter(Mandatory)]
    [string] $Path,

    # Where it appears inside the container.
    [Parameter(Mandatory)]
    [string] $Target
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Module MountHotplug)) { Import-Module MountHotplug }

if ($PSCmdlet.ParameterSetName -eq 'CtId') {
    # Proxmox names its LXC containers by CT ID.
    $ProcessId = [int](& lxc-info -n $CtId -p -H)
    if ($LASTEXITCODE -ne 0 -or $ProcessId -le 0) { throw "CT $CtId is not running (lxc-info -n $CtId -p -H found no PID)." }
}

$ct = Get-ContainerNamespace -ProcessId $ProcessId
try {
    $mount = New-StagedMount -Path $Path -ReadOnly -NoSuid -NoDev |
        Move-MountIntoNamespace -Namespace $ct -Target $Target -CreateTarget -PassThru
    if ($mount) {
        "Added $Path read-only at $Target inside PID $ProcessId ($($ct.ProcessName)); mount id $($mount.MountId)."
        $mount
    }
}
finally {
    $ct.Dispose()
}
