<#
.SYNOPSIS
    Keeps a read-only dataset in a RUNNING Proxmox/LXC container: puts it back whenever the container's root unmounts it.
.DESCRIPTION
    A hot-plugged mount is not locked: root in a container with its own user namespace can unmount it. This runbook syncs
    the dataset into the container (read-only, nosuid, nodev; added if it is missing, left alone if it is there), then
    watches the container's mount namespace (Watch-Mount: fanotify mount notifications, Linux 6.15) and syncs again each
    time a mount at the target is detached. Every -Interval seconds it also syncs without an event, so that nothing done
    between two watches is missed. It writes a Sync-ContainerMount result for each sync that changed something.
    It runs until Ctrl+C, -Timeout, or the container exits; a sync that fails (say, the container mounted something of its
    own there: SyncConflict) is reported and the watch goes on.
.EXAMPLE
    ./mhp -File examples/Repair-ContainerMount.ps1 -CtId 101 -Path /tank/reference -Target /mnt/reference
.EXAMPLE
    ./mhp -File examples/Repair-ContainerMount.ps1 -ProcessId 4242 -Path /srv/data -Target /mnt/data -Timeout 3600
#>
[CmdletBinding(DefaultParameterSetName = 'CtId')]
param(
    # Proxmox CT ID (its LXC container name).
    [Parameter(Mandatory, ParameterSetName = 'CtId')]
    [string] $CtId,

    # Or the host PID of any container's init process.
    [Parameter(Mandatory, ParameterSetName = 'ProcessId')]
    [int] $ProcessId,

    # The host directory to keep in the container.
    [Parameter(Mandatory)]
    [string] $Path,

    # Where it appears inside the container.
    [Parameter(Mandatory)]
    [string] $Target,

    # Stop after this many seconds; by default it runs until Ctrl+C or the container exits.
    [double] $Timeout = [double]::PositiveInfinity,

    # Sync at least this often (seconds), also when no event came.
    [ValidateRange(1, 86400)]
    [double] $Interval = 60
)

$ErrorActionPreference = 'Stop'
if (-not (Get-Module MountHotplug)) { Import-Module MountHotplug }

if ($PSCmdlet.ParameterSetName -eq 'CtId') {
    # Proxmox names its LXC containers by CT ID.
    $ProcessId = [int](& lxc-info -n $CtId -p -H)
    if ($LASTEXITCODE -ne 0 -or $ProcessId -le 0) { throw "CT $CtId is not running (lxc-info -n $CtId -p -H found no PID)." }
}

$dataset = @{ Path = (Resolve-Path -LiteralPath $Path).ProviderPath; Target = $Target; ReadOnly = $true; NoSuid = $true; NoDev = $true }
$ct = Get-ContainerNamespace -ProcessId $ProcessId
try {
    $clock = [Diagnostics.Stopwatch]::StartNew()
    # A failed sync is reported and the watch goes on: the next event or interval tries again.
    $repair = { Sync-ContainerMount -Namespace $ct -Mount $dataset -ErrorAction Continue | Where-Object Action -ne InSync }
    while ($ct.IsAlive) {
        & $repair
        $left = $Timeout - $clock.Elapsed.TotalSeconds
        if ($left -le 0) { break }
        Watch-Mount -Namespace $ct -Path ([WildcardPattern]::Escape($Target)) -Timeout ([Math]::Min($Interval, $left)) -ErrorAction Continue |
            Where-Object Kind -eq Detached |
            ForEach-Object { & $repair }
    }
}
finally {
    $ct.Dispose()
}
