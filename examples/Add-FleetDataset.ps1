<#
.SYNOPSIS
    Adds a host dataset read-only to the same RUNNING container on many hosts at once, over PowerShell SSH remoting:
    one result row per host; a host that fails (unreachable, no such container, no such path) is reported in its row
    and stops none of the others.
.DESCRIPTION
    Each host needs pwsh 7.4+ as its sshd's powershell subsystem (Subsystem powershell /usr/bin/pwsh -sshs -NoLogo)
    and MountHotplug installed (Install-PSResource MountHotplug). On each host the dataset path is that host's own:
    the runbook stages it read-only, nosuid and nodev and attaches it in the container, as Add-ReadOnlyDataset.ps1
    does for one host. Hosts run in parallel, -ThrottleLimit at a time.
.EXAMPLE
    ./examples/Add-FleetDataset.ps1 -HostName (Get-Content hosts.txt) -Name 101 -Path /tank/media -Target /mnt/media
.EXAMPLE
    ./examples/Add-FleetDataset.ps1 -HostName root@pve1, root@pve2 -Name web -Path /srv/www -Target /var/www -KeyFilePath ~/.ssh/fleet | Where-Object Status -NE Attached
#>
[CmdletBinding(DefaultParameterSetName = 'Name')]
param(
    # The hosts, as ssh takes them: host or user@host.
    [Parameter(Mandatory)]
    [string[]] $HostName,

    # The container's name (a Proxmox CT ID, an LXC, docker, podman, runc, crun or nspawn name), the same on every host.
    [Parameter(Mandatory, ParameterSetName = 'Name')]
    [string] $Name,

    # Or the host PID of the container's init (for a single host, or a test).
    [Parameter(Mandatory, ParameterSetName = 'ProcessId')]
    [int] $ProcessId,

    # The dataset directory on each host.
    [Parameter(Mandatory)]
    [string] $Path,

    # Where it appears inside the container.
    [Parameter(Mandatory)]
    [string] $Target,

    [int] $Port = 22,

    [string] $KeyFilePath,

    # More ssh options, e.g. @{ StrictHostKeyChecking = 'accept-new' }.
    [hashtable] $SshOption,

    [int] $ThrottleLimit = 16,

    # How long to wait for a host's session, in milliseconds: without a limit, a host whose ssh dies at the wrong
    # moment can hold up the whole run.
    [int] $ConnectingTimeout = 30000,

    # What each host imports: the installed module by name, or a path.
    [string] $Module = 'MountHotplug'
)

$ErrorActionPreference = 'Stop'
$remoting = @{ Port = $Port; ConnectingTimeout = $ConnectingTimeout }
if ($KeyFilePath) { $remoting.KeyFilePath = $KeyFilePath }
if ($SshOption) { $remoting.Options = $SshOption }

# What runs on each host. Text, because a script block cannot cross into the -Parallel runspaces.
$onHost = {
    param($Module, $Name, $ProcessId, $Path, $Target)
    $ErrorActionPreference = 'Stop'
    Import-Module $Module
    $ct = if ($ProcessId) { Get-ContainerNamespace -ProcessId $ProcessId } else { Get-ContainerNamespace -Name $Name }
    try {
        $mount = New-StagedMount -Path $Path -ReadOnly -NoSuid -NoDev |
            Move-MountIntoNamespace -Namespace $ct -Target $Target -CreateTarget -PassThru
        [pscustomobject]@{ MountId = $mount.MountId }
    }
    finally {
        $ct.Dispose()
    }
}.ToString()
$arguments = @($Module, $Name, $ProcessId, $Path, $Target)

# One runspace per host (Invoke-Command -HostName takes no -ThrottleLimit): a host that cannot be reached, or whose
# hot-plug fails, ends only its own runspace, with its error in its row.
$rows = 0..($HostName.Count - 1) | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
    $index = $_
    $target = ($using:HostName)[$index]
    $remoting = $using:remoting
    try {
        $result = Invoke-Command -HostName $target @remoting -ArgumentList $using:arguments -ScriptBlock ([scriptblock]::Create($using:onHost)) -ErrorAction Stop
        [pscustomobject]@{ Index = $index; HostName = $target; Status = 'Attached'; MountId = $result.MountId; Error = $null }
    }
    catch {
        [pscustomobject]@{ Index = $index; HostName = $target; Status = 'Failed'; MountId = $null; Error = $_.Exception.Message }
    }
}
# Four columns, so that pwsh shows a table: one row per host.
$rows | Sort-Object Index | Select-Object HostName, Status, MountId, Error
