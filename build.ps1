#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests or packages MountHotplug: a thin wrapper over the dotnet commands the README shows.
.PARAMETER Task
    Build: dotnet build, staging module/MountHotplug (and module/mhp).
    Test: tests/run.sh (installs what the tests need, runs them in a private mount namespace; needs root).
    Package: a Release build, then artifacts/MountHotplug-<version>.zip of the staged module.
.EXAMPLE
    ./build.ps1
.EXAMPLE
    sudo pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug'
)

$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

switch ($Task) {
    'Build' {
        Invoke-Native dotnet @('build', "$root/MountHotplug.slnx", '-c', $Configuration, '-nologo')
    }
    'Test' {
        Invoke-Native bash @("$root/tests/run.sh")
    }
    'Package' {
        Invoke-Native dotnet @('build', "$root/MountHotplug.slnx", '-c', 'Release', '-nologo')
        $version = (Test-ModuleManifest -Path "$root/module/MountHotplug/MountHotplug.psd1").Version
        $artifacts = [System.IO.Directory]::CreateDirectory("$root/artifacts").FullName
        $zip = [System.IO.Path]::Combine($artifacts, "MountHotplug-$version.zip")
        if ([System.IO.File]::Exists($zip)) { [System.IO.File]::Delete($zip) }
        [System.IO.Compression.ZipFile]::CreateFromDirectory("$root/module/MountHotplug", $zip, 'Optimal', $true)
        $zip
    }
}
