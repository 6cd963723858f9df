<#
.SYNOPSIS
    The demo `sudo ./mhp demo` runs: starts a throwaway busybox container, hot-plugs a host directory into it
    read-only with the real cmdlets, shows what the container sees, and removes everything again.
.DESCRIPTION
    The container comes from MountHotplug.Sandbox (staged by the build in module/sandbox), the same code the tests use
    to start theirs: a private copy of a busybox rootfs, pivot_root'ed, as PID 1 of new mount, pid and uts
    namespaces. Exits 1 if anything fails or if the caller's mount table changed.
#>
[CmdletBinding()]
param()

$ErrorActionPreference = 'Stop'
if (-not [Environment]::IsPrivilegedProcess) {
    [Console]::Error.WriteLine('mhp demo needs root (it starts a container and mounts into it): sudo ./mhp demo')
    exit 2
}

$repository = Split-Path -Parent $PSScriptRoot
Import-Module (Join-Path $repository 'module/MountHotplug/MountHotplug.psd1')
Add-Type -Path (Join-Path $repository 'module/sandbox/MountHotplug.Sandbox.dll')

function Write-Section([string] $Title) { "`n== $Title" | Out-Host }

function Show-InContainer($Container, [string[]] $Argv) {
    $shown = ($Argv | ForEach-Object { if ($_.Contains(' ')) { "'$_'" } else { $_ } }) -join ' '
    "$($Container.Name)# $shown" | Out-Host
    $result = $Container.Exec($Argv)
    ($result.StandardOutput + $result.StandardError).TrimEnd() | Where-Object { $_ } | Out-Host
    if ($result.ExitCode -ne 0) { "(exit code $($result.ExitCode))" | Out-Host }
}

[void] [MountHotplug.Sandbox.Busybox]::EnsureInstalled()
$tableBefore = [IO.File]::ReadAllText('/proc/self/mountinfo')
$source = [IO.Directory]::CreateTempSubdirectory('mhp-demo-')
$data = New-Item -ItemType Directory -Path (Join-Path $source.FullName 'data')
Set-Content -Path (Join-Path $data 'hello.txt') -Value "Hello from the host ($([Environment]::MachineName)), written $([DateTime]::UtcNow.ToString('u'))"
$container = $null
try {
    $container = [MountHotplug.Sandbox.SandboxContainer]::Start('PivotRoot')
    Write-Section "Started container $($container.Name): init PID $($container.Pid), own mount/pid/uts namespaces, busybox rootfs, pivot_root'ed"
    "Inside, /mnt holds: [$($container.Exec('ls', '/mnt').StandardOutput.Trim())]" | Out-Host

    Write-Section 'Hot-plug, in PowerShell'
    $statements = @(
        "`$ct = Get-ContainerNamespace -ProcessId $($container.Pid)"
        '$ct'
        "New-StagedMount -Path $data -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/data -CreateTarget -PassThru"
    )
    $statements | ForEach-Object { "PS> $_" } | Out-Host
    # One rendering per statement, as at a prompt, so that each output type gets its own table view; dot-sourced so
    # that $ct lives on in this scope. A pipe or a log gets 160 columns, as a terminal's width means nothing there.
    $width = if ([Console]::IsOutputRedirected) { 160 } else { $Host.UI.RawUI.WindowWidth }
    foreach ($statement in $statements) {
        (. ([scriptblock]::Create($statement)) | Out-String -Width $width).TrimEnd() | Out-Host
    }
    $ct.Dispose()

    Write-Section 'What the container sees (commands run inside it)'
    Show-InContainer $container 'grep', ' /mnt/data ', '/proc/self/mountinfo'
    Show-InContainer $container 'ls', '-l', '/mnt/data'
    Show-InContainer $container 'cat', '/mnt/data/hello.txt'
    Show-InContainer $container 'sh', '-c', 'echo overwrite > /mnt/data/hello.txt'

    Write-Section 'The host'
    $unchanged = $tableBefore -eq [IO.File]::ReadAllText('/proc/self/mountinfo')
    "Host mount table unchanged by the hot-plug: $(if ($unchanged) { 'yes' } else { 'NO' })" | Out-Host
    "Stopping $($container.Name) and removing $($source.FullName)." | Out-Host
    if (-not $unchanged) { exit 1 }
}
finally {
    if ($container) { $container.Dispose() }
    Remove-Item -LiteralPath $source.FullName -Recurse -Force
}
