<#
.SYNOPSIS
    Swaps the configuration volume of a RUNNING container atomically: the new version is mounted beneath the old one
    and the old one detached, so the service never sees an empty or half-written config directory.
.DESCRIPTION
    The first run (no mount at -Target yet) attaches the volume normally. Every later run replaces the mounted
    version with MOVE_MOUNT_BENEATH (Linux 6.5+); on an older kernel it stops with KernelTooOld instead of stacking.
    Then it optionally runs a reload command inside the container (for example 'nginx -s reload').
.EXAMPLE
    ./mhp -File examples/Switch-ConfigVolume.ps1 -ProcessId 4242 -Path /srv/conf/web/v42 -Target /etc/nginx/conf.d
.EXAMPLE
    ./mhp -File examples/Switch-ConfigVolume.ps1 -CtId 101 -Path /srv/conf/web/v43 -Target /etc/nginx/conf.d -WhatIf
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'CtId')]
param(
    [Parameter(Mandatory, ParameterSetName = 'CtId')]
    [string] $CtId,

    [Parameter(Mandatory, ParameterSetName = 'ProcessId')]
    [int] $ProcessId,

    # The directory holding the new configuration version on the host.
    [Parameter(Mandatory)]
    [string] $Path,

    # The configuration directory inside the container.
    [Parameter(Mandatory)]
    [string] $Target
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Module MountHotplug)) { Import-Module MountHotplug }

if ($PSCmdlet.ParameterSetName -eq 'CtId') {
    $ProcessId = [int](& lxc-info -n $CtId -p -H)
    if ($LASTEXITCODE -ne 0 -or $ProcessId -le 0) { throw "CT $CtId is not running (lxc-info -n $CtId -p -H found no PID)." }
}

$ct = Get-ContainerNamespace -ProcessId $ProcessId
try {
    # A config volume is data, never code: read-only, nosuid, nodev, noexec.
    $staged = New-StagedMount -Path $Path -ReadOnly -NoSuid -NoDev -NoExec
    $first = $false
    try {
        $mount = $staged | Move-MountIntoNamespace -Namespace $ct -Target $Target -Replace -PassThru
    }
    catch {
        # Nothing mounted there yet (or not even the directory): this is the first version. A failed -Replace leaves
        # the staged mount staged, so it can be attached normally.
        $id = ($_.FullyQualifiedErrorId -split ',')[0]
        if ($id -notin 'ReplaceTargetNotMounted', 'TargetNotFound') { throw }
        $first = $true
        $mount = $staged | Move-MountIntoNamespace -Namespace $ct -Target $Target -CreateTarget -PassThru
    }

    if ($mount) {
        if ($first) { "Mounted $Path at $Target inside PID $ProcessId (first version)." }
        else { "Swapped $Target inside PID $ProcessId to $Path (mount $($mount.MountId) replaced $($mount.ReplacedMountId))." }
    }
}
finally {
    $ct.Dispose()
}
