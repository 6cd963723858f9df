#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests or packages MountHotplug: a thin wrapper over the dotnet commands the README shows.
.DESCRIPTION
    Run it in the pinned pwsh: ./mhp -File build.ps1 [-Task …], or dotnet tool restore, then dotnet pwsh build.ps1.
.PARAMETER Task
    Build: dotnet build, staging module/MountHotplug (and module/sandbox for the demo and the tests).
    Test: tests/run.sh (installs what the tests need, runs them in a private mount namespace; needs root).
    Package: a Release build of the module (its assemblies ReadyToRun-compiled) with LICENSE and README.md, packed by PSResourceGet's Compress-PSResource
    into artifacts/MountHotplug.<version>.nupkg, which Install-PSResource installs from a file repository.
.EXAMPLE
    ./mhp -File build.ps1
.EXAMPLE
    ./mhp -File build.ps1 -Task Package
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
        $stage = [IO.Directory]::CreateTempSubdirectory('mhp-package-').FullName
        try {
            # Staged into a folder of its own (the name Compress-PSResource gives the package comes from the manifest),
            # so that packaging never rewrites module/MountHotplug under a session that has it loaded.
            $module = Join-Path $stage 'MountHotplug'
            # The module's assemblies compiled ahead of time (ReadyToRun) for pwsh 7.6's runtime: a one-shot pwsh does not
            # JIT them (src/MountHotplug.ReadyToRun says how; docs/performance.md what it saves).
            Invoke-Native dotnet @('publish', "$root/src/MountHotplug.ReadyToRun/MountHotplug.ReadyToRun.csproj", '-c', 'Release', '-nologo', '-v', 'quiet', "-p:ModuleStageDir=$module/")
            Invoke-Native dotnet @('build', "$root/src/MountHotplug.HelpBuilder/MountHotplug.HelpBuilder.csproj", '-c', 'Release', '-nologo', '-v', 'quiet', "-p:ModuleStageDir=$module/")
            Copy-Item -LiteralPath "$root/LICENSE", "$root/README.md" -Destination $module
            $version = (Test-ModuleManifest -Path "$module/MountHotplug.psd1").Version
            $artifacts = [IO.Directory]::CreateDirectory("$root/artifacts").FullName
            $package = Join-Path $artifacts "MountHotplug.$version.nupkg"
            if (Test-Path -LiteralPath $package) { Remove-Item -LiteralPath $package }
            Compress-PSResource -Path $module -DestinationPath $artifacts
            if (-not (Test-Path -LiteralPath $package)) { throw "Compress-PSResource did not write $package" }
            $package
        }
        finally {
            Remove-Item -LiteralPath $stage -Recurse -Force
        }
    }
}
