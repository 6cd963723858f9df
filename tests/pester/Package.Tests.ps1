# The package as the ecosystem installs it: ./build.ps1 -Task Package makes the .nupkg with PSResourceGet, a file
# repository serves it to Install-PSResource in a HOME of its own, and fresh pwsh processes there find the module by
# name and by auto-loading, and hot-plug with it into a real container. Nothing outside the temporary HOME changes.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:userHome = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'home')).FullName
    $script:repository = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'repository')).FullName
    # Every pwsh below runs as a fresh user of that HOME: its module path, PSResourceGet's repository list and
    # installed modules all come from there, and module/ of this checkout is on no path.
    $script:userEnvironment = @{ HOME = $userHome; PSModulePath = $null; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; XDG_CACHE_HOME = $null }

    function script:Invoke-AsUser([string] $Script) {
        Invoke-Child -FilePath (Get-PwshPath) -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $Script -Environment $userEnvironment
    }

    $script:build = Invoke-Child -FilePath (Get-PwshPath) -ArgumentList '-NoProfile', '-NonInteractive', '-File', (Join-Path (Get-Repository) 'build.ps1'), '-Task', 'Package'
    $script:package = ($build.StandardOutput.Trim() -split "`n")[-1].Trim()
}

AfterAll {
    Invoke-Cleanup { if ($script:userHome) { Invoke-AsUser 'Unregister-PSResourceRepository -Name mhp-test -ErrorAction SilentlyContinue' | Out-Null } },
        { Remove-ContainerFixture $script:fixture }
}

Describe 'The MountHotplug package' -Tag Privileged {
    It 'is built by ./build.ps1 -Task Package with the manifest''s version, LICENSE and README inside' {
        $build.ExitCode | Should -Be 0 -Because ($build.StandardOutput + $build.StandardError)
        $version = (Import-PowerShellDataFile (Join-Path (Get-Repository) 'MountHotplug.psd1')).ModuleVersion
        $package | Should -Be (Join-Path (Get-Repository) "artifacts/MountHotplug.$version.nupkg")
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($package)
        try { $entries = $zip.Entries.FullName } finally { $zip.Dispose() }
        foreach ($file in 'MountHotplug.psd1', 'MountHotplug.dll', 'MountHotplug.Core.dll', 'MountHotplug.Format.ps1xml', 'en-US/MountHotplug.dll-Help.xml', 'en-US/about_MountHotplug.help.txt', 'LICENSE', 'README.md') {
            $entries | Should -Contain $file
        }
    }

    It 'ships its assemblies as ReadyToRun images of the format pwsh 7.6''s runtime runs' {
        $zip = [IO.Compression.ZipFile]::OpenRead($package)
        try {
            foreach ($name in 'MountHotplug.dll', 'MountHotplug.Core.dll') {
                $bytes = [IO.MemoryStream]::new()
                $stream = $zip.GetEntry($name).Open()
                try { $stream.CopyTo($bytes) } finally { $stream.Dispose() }
                $bytes.Position = 0
                $pe = [Reflection.PortableExecutable.PEReader]::new($bytes)
                try {
                    $native = $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory
                    $native.Size | Should -BeGreaterThan 0 -Because "$name should be a ReadyToRun image"
                    $header = $pe.GetSectionData($native.RelativeVirtualAddress).GetContent(0, 8)
                    [BitConverter]::ToUInt32($header, 0) | Should -Be 0x00525452 -Because "$name's native header should be a READYTORUN_HEADER ('RTR')"
                    # .NET 10 runs images of major version 16 and later only; .NET 8's crossgen2 makes version 9.
                    [BitConverter]::ToUInt16($header, 4) | Should -BeGreaterOrEqual 16 -Because "$name should be compiled by .NET 10's crossgen2"
                }
                finally { $pe.Dispose() }
            }
        }
        finally { $zip.Dispose() }
    }

    It 'installs with Install-PSResource from a registered file repository into the user''s HOME' {
        Copy-Item -LiteralPath $package -Destination $repository
        $run = Invoke-AsUser @"
Register-PSResourceRepository -Name mhp-test -Uri '$repository' -Trusted
Install-PSResource -Name MountHotplug -Repository mhp-test -Scope CurrentUser -Quiet
Get-InstalledPSResource -Name MountHotplug | ForEach-Object { "`$(`$_.Name) `$(`$_.Version) `$(`$_.Repository)" }
"@
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $run.StandardOutput.Trim() | Should -Be 'MountHotplug 0.1.0 mhp-test'
        $installed = Get-ChildItem -LiteralPath (Join-Path $userHome '.local/share/powershell/Modules/MountHotplug') -Recurse -File
        $installed.Name | Should -Contain 'LICENSE'
        $installed.Name | Should -Contain 'README.md'
        $installed.Name | Should -Contain 'MountHotplug.dll'
    }

    It 'imports by name in a fresh pwsh, from where it was installed' {
        $run = Invoke-AsUser 'Import-Module MountHotplug; (Get-Module MountHotplug).ModuleBase; (Get-Command -Module MountHotplug).Count; (Get-Help New-StagedMount).Synopsis'
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $lines = $run.StandardOutput.Trim() -split "`n" | ForEach-Object Trim
        $lines[0] | Should -BeLike "$userHome/.local/share/powershell/Modules/MountHotplug/0.1.0"
        [int] $lines[1] | Should -Be (Get-Command -Module MountHotplug).Count
        $lines[2] | Should -Not -BeNullOrEmpty
    }

    It 'auto-loads on first use, without Import-Module, and hot-plugs into a running container' {
        $run = Invoke-AsUser @"
`$ct = Get-ContainerNamespace -ProcessId $($container.Pid)
New-StagedMount -Path '$($tree.Data)' -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/installed -CreateTarget -PassThru | ForEach-Object State
(Get-Module MountHotplug).ModuleBase
"@
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $run.StandardOutput.Trim() -split "`n" | ForEach-Object Trim | Should -Be @('Attached', "$userHome/.local/share/powershell/Modules/MountHotplug/0.1.0")
        $container.ExecOrThrow('cat', '/mnt/installed/hello.txt') | Should -Be $tree.Content
        (Get-ContainerMountLine $container '/mnt/installed') -split ' ' | Select-Object -Index 5 | Should -Match '^ro\b'
    }

    It 'hot-plugs without JIT-compiling a method of its own: the ReadyToRun code is the code that runs' {
        # The runtime's own list of what it compiled (DOTNET_JitDisasmSummary, in release runtimes since .NET 7), on the
        # child's stdout (DOTNET_JitStdOutFile crashed about one exit in ten here); the script writes its own results to
        # a file, so that nothing splits a line of that list. A method of the module in it means the runtime refused the
        # precompiled code, e.g. for an engine whose PSCmdlet differs from the System.Management.Automation the package
        # was compiled against (src/MountHotplug.ReadyToRun).
        $results = Join-Path $tree.Root 'precompiled.txt'
        $environment = $userEnvironment.Clone()
        $environment['DOTNET_JitDisasmSummary'] = '1'
        $run = Invoke-Child -FilePath (Get-PwshPath) -Environment $environment -ArgumentList '-NoProfile', '-NonInteractive', '-Command', @"
Import-Module MountHotplug
`$ct = Get-ContainerNamespace -ProcessId $($container.Pid)
`$state = New-StagedMount -Path '$($tree.Data)' -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/precompiled -CreateTarget -PassThru | ForEach-Object State
Set-Content -LiteralPath '$results' -Value `$state, @(Get-Mount -Namespace `$ct -Path /mnt/precompiled).Count
"@
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        Get-Content -LiteralPath $results | Should -Be @('Attached', '1')
        $compiled = @($run.StandardOutput -split "`n" | Where-Object { $_ })
        $compiled | Where-Object { $_ -notmatch '^ *\d+: JIT compiled ' } | Should -BeNullOrEmpty
        $compiled.Count | Should -BeGreaterThan 100 -Because 'the list has what the engine itself JIT-compiles (it ships as IL)'
        $compiled | Where-Object { $_ -match 'JIT compiled MountHotplug\.' } | Should -BeNullOrEmpty
    }
}
