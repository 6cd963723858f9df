# What a user meets at the pwsh prompt: ./mhp itself, completion, errors as pwsh renders them, -WhatIf and -Confirm.
# Rendering is checked in child processes (./mhp, a fresh pwsh), where pwsh itself writes the terminal's text.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
}

AfterAll {
    Remove-ContainerFixture $script:fixture
}

Describe './mhp' -Tag Privileged {
    It '-c runs real pwsh with the standard cmdlets and the module, and passes the exit code through' {
        $run = Invoke-Mhp -ArgumentList '-c', 'Get-Mount | Select-Object -First 3 | Format-List MountPoint; (Get-Module MountHotplug).Path; exit 7'
        $run.ExitCode | Should -Be 7 -Because $run.StandardError
        ([regex]::Matches($run.StandardOutput, '(?m)^MountPoint : /')).Count | Should -Be 3
        $run.StandardOutput | Should -Match ([regex]::Escape((Join-Path (Get-Repository) 'module/MountHotplug/MountHotplug.dll')))
    }

    It '-c exits 1 when the last command failed, as pwsh does' {
        $run = Invoke-Mhp -ArgumentList '-c', "New-StagedMount -Path '$($tree.Root)/missing'"
        $run.ExitCode | Should -Be 1
        $run.StandardError | Should -Match 'New-StagedMount: '
    }

    It '-File passes the script''s arguments and exit code through, and the module auto-loads' {
        $script = Join-Path $tree.Root 'probe.ps1'
        Set-Content -LiteralPath $script -Value @'
param([string] $Feature, [switch] $Fail)
(Get-MountApiSupport -Feature $Feature).Name
(Get-Module MountHotplug).ModuleBase
if ($Fail) { exit 4 }
'@
        $run = Invoke-Mhp -ArgumentList '-File', $script, '-Feature', 'OpenTree', '-Fail'
        $run.ExitCode | Should -Be 4 -Because $run.StandardError
        $run.StandardOutput -split "`n" | Select-Object -First 2 | ForEach-Object Trim |
            Should -Be @('open_tree', (Join-Path (Get-Repository) 'module/MountHotplug'))
    }

    It 'with no arguments is an interactive pwsh with the module imported and every built-in module' {
        $run = Invoke-Mhp -StandardInput "(Get-Module MountHotplug).Name`n(Get-Command Select-Object, Start-ThreadJob, Install-PSResource | ForEach-Object Source) -join ','`n(Get-Module -ListAvailable PSReadLine).Name`nexit 5`n"
        $run.ExitCode | Should -Be 5 -Because $run.StandardError
        $run.StandardOutput | Should -Match '(?m)^MountHotplug\s*$'
        $run.StandardOutput | Should -Match 'Microsoft.PowerShell.Utility,Microsoft.PowerShell.ThreadJob,Microsoft.PowerShell.PSResourceGet'
        $run.StandardOutput | Should -Match '(?m)^PSReadLine\s*$'
        $run.StandardOutput | Should -Match 'PS .*>'
    }

    It 'demo hot-plugs a host directory read-only into a container it starts, shows it, and cleans up' {
        $run = Invoke-Mhp -ArgumentList 'demo'
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $name = [regex]::Match($run.StandardOutput, 'Started container (mhp-sbx-[0-9a-f]+)').Groups[1].Value
        $name | Should -Not -BeNullOrEmpty
        $run.StandardOutput | Should -Match '(?m)^State\s+Source\s+Attributes'
        $run.StandardOutput | Should -Match '(?m)^Attached /tmp/mhp-demo-\S+/data\s+ro\b.*/mnt/data\b'
        $run.StandardOutput | Should -Match "$name# cat /mnt/data/hello.txt\s+Hello from the host"
        $run.StandardOutput | Should -Match "can't create /mnt/data/hello.txt: Read-only file system"
        $run.StandardOutput | Should -Match 'Host mount table unchanged by the hot-plug: yes'
        Test-Path -LiteralPath "/tmp/$name" | Should -BeFalse -Because 'the demo removes its container'
    }
}

Describe 'Completion through TabExpansion2' -Tag Privileged {
    It 'completes <Line> with <Expected>' -ForEach @(
        @{ Line = 'New-StagedMount -FileSystem tm'; Expected = 'tmpfs' }
        @{ Line = 'Get-MountApiSupport -Feature OpenT'; Expected = 'OpenTree' }
        @{ Line = 'New-StagedMount -Propagation Unb'; Expected = 'Unbindable' }
        @{ Line = 'Move-MountIntoNamespace -Creat'; Expected = '-CreateTarget' }
        @{ Line = 'Remove-Mount -Path /pr'; Expected = '/proc' }
        @{ Line = 'Get-MountAp'; Expected = 'Get-MountApiSupport' }
    ) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText | Should -Contain $Expected
    }
}

Describe 'Errors as pwsh shows them' -Tag Privileged {
    BeforeAll { $script:missing = Join-Path $tree.Root 'missing' }

    It 'ConciseView names the cmdlet, says what failed and what to do' {
        $run = Invoke-FreshPwsh -Script "New-StagedMount -Path '$missing'"
        $run.ExitCode | Should -Be 1
        $run.StandardError | Should -Match "^New-StagedMount: Could not clone '$([regex]::Escape($missing))': open_tree .* ENOENT"
        $run.StandardError | Should -Match 'Recommendation: Check the source path on the host\.'
        $run.StandardError | Should -Not -Match '   at '
    }

    It '$Error[0] | Format-List * -Force shows the id, the category and the target' {
        $run = Invoke-FreshPwsh -Script "New-StagedMount -Path '$missing' -ErrorAction SilentlyContinue; `$Error[0] | Format-List * -Force | Out-String -Width 300"
        $run.StandardOutput | Should -Match '(?m)^FullyQualifiedErrorId\s*: SourceNotFound,MountHotplug\.NewStagedMountCommand\s*$'
        $run.StandardOutput | Should -Match "(?m)^CategoryInfo\s*: ObjectNotFound: \($([regex]::Escape($missing)):String\) \[New-StagedMount\]"
        $run.StandardOutput | Should -Match "(?m)^TargetObject\s*: $([regex]::Escape($missing))\s*$"
        $run.StandardOutput | Should -Match '(?m)^Exception\s*: MountHotplug\.\w+Exception: open_tree'
    }

    It 'the same record in this session carries the same id, category and target' {
        New-StagedMount -Path $missing -ErrorAction SilentlyContinue -ErrorVariable failure
        $failure | Should -HaveCount 1
        $failure[0].FullyQualifiedErrorId | Should -Be 'SourceNotFound,MountHotplug.NewStagedMountCommand'
        $failure[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failure[0].TargetObject | Should -Be $missing
    }
}

Describe '-WhatIf and -Confirm' -Tag Privileged {
    BeforeAll {
        # $ConfirmPreference Low makes every change ask; -NonInteractive turns a question into an error, so only
        # -Confirm:$false can let them through.
        $script:prelude = "`$ConfirmPreference = 'Low'; `$ct = Get-ContainerNamespace -ProcessId $($container.Pid); "
    }

    It 'Move-MountIntoNamespace -WhatIf says what it would do and changes nothing' {
        $run = Invoke-FreshPwsh -Script ($prelude + "New-StagedMount -Path '$($tree.Data)' -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/whatif -CreateTarget -WhatIf")
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $run.StandardOutput | Should -Match "What if: Attach the staged mount of $([regex]::Escape($tree.Data))"
        Get-ContainerMountLine $container '/mnt/whatif' | Should -BeNullOrEmpty
        $container.Exec('test', '-e', '/mnt/whatif').ExitCode | Should -Be 1 -Because '-WhatIf creates no target either'
    }

    It 'asks under $ConfirmPreference = Low, and -Confirm:$false attaches and unplugs without asking' {
        $asked = Invoke-FreshPwsh -Script ($prelude + "New-StagedMount -Path '$($tree.Data)' -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/confirmed -CreateTarget")
        $asked.ExitCode | Should -Not -Be 0
        Get-ContainerMountLine $container '/mnt/confirmed' | Should -BeNullOrEmpty

        $run = Invoke-FreshPwsh -Script ($prelude + "New-StagedMount -Path '$($tree.Data)' -ReadOnly | Move-MountIntoNamespace -Namespace `$ct -Target /mnt/confirmed -CreateTarget -Confirm:`$false")
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $container.ExecOrThrow('cat', '/mnt/confirmed/hello.txt') | Should -Be $tree.Content

        $whatIf = Invoke-FreshPwsh -Script ($prelude + 'Remove-Mount -Path /mnt/confirmed -Namespace $ct -WhatIf')
        $whatIf.StandardOutput | Should -Match 'What if: '
        Get-ContainerMountLine $container '/mnt/confirmed' | Should -Not -BeNullOrEmpty

        $removed = Invoke-FreshPwsh -Script ($prelude + 'Remove-Mount -Path /mnt/confirmed -Namespace $ct -RemoveTarget -Confirm:$false')
        $removed.ExitCode | Should -Be 0 -Because $removed.StandardError
        Get-ContainerMountLine $container '/mnt/confirmed' | Should -BeNullOrEmpty
    }
}
