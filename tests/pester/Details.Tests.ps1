# The smaller things a PowerShell user trips over (issue 13, item 10): what Get-Member lists, what Get-MountApiSupport
# says a feature is for, where Get-Help -Online goes, how code spans read in Get-Help, and -WhatIf for keeping a mount.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot '../../module/MountHotplug/MountHotplug.psd1')
    $script:cmdletNames = (Get-Command -Module MountHotplug -CommandType Cmdlet).Name
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:tablesBefore = Get-MountTables
    $script:tree = New-TestTree
}

AfterAll {
    Remove-TestTree $script:tree
    Get-MountTables | Should -Be $script:tablesBefore -Because 'a test file must leave the host and its own mount tables as it found them'
}

Describe 'Get-Member of the output types' -Tag Privileged {
    BeforeAll {
        # One object of each output type that can be made without a container; MountEvent is checked on its type below.
        $script:staged = New-StagedMount -Path $tree.Data
        $script:ownNamespace = Get-ContainerNamespace -ProcessId $PID -WarningAction SilentlyContinue
        $topology = [MountHotplug.MountTopology]::Parse((Export-MountTopology -Path /proc))
        $script:objects = [ordered]@{
            Mount               = Get-Mount -Path /
            MountTopology       = $topology
            TopologyMount       = $topology.Mounts[0]
            StagedMount         = $staged
            ContainerNamespace  = $ownNamespace
            MountApiFeature     = Get-MountApiSupport -Feature OpenTree
        }
    }

    AfterAll {
        Invoke-Cleanup { if ($script:staged) { $staged.Dispose() } }, { if ($script:ownNamespace) { $ownNamespace.Dispose() } }
    }

    It 'lists no compiler-made <Clone>$ method and no property a user could set, for <_>' -ForEach @('Mount', 'MountTopology', 'TopologyMount', 'StagedMount', 'ContainerNamespace', 'MountApiFeature') {
        $members = $objects[$_] | Get-Member
        $members.Name | Where-Object { $_ -like '<*' } | Should -BeNullOrEmpty
        $members | Where-Object { $_.MemberType -eq 'Property' -and $_.Definition -match '\bset;' } | ForEach-Object Name | Should -BeNullOrEmpty
    }

    It 'gives MountEvent no public setter either' {
        [MountHotplug.MountEvent].GetProperties() | Where-Object { $_.SetMethod -and $_.SetMethod.IsPublic } | ForEach-Object Name | Should -BeNullOrEmpty
    }
}

Describe 'Get-MountApiSupport UsedBy' -Tag Privileged {
    It 'names the commands that stop without idmapped mounts and without statmount/listmount' {
        (Get-MountApiSupport -Feature IdmappedMounts).UsedBy | Should -Contain 'New-StagedMount -IdMap'
        (Get-MountApiSupport -Feature StatMountListMount).UsedBy | Should -Contain 'Watch-Mount'
        (Get-MountApiSupport -Feature MoveMountSetGroup).UsedBy | Should -Contain 'Restore-MountTopology'
    }

    It 'says so in the table when no command needs a feature, instead of leaving the column empty' {
        $row = (Get-MountApiSupport -Feature OpenTreeAttr | Out-String -Width 200) -split "`n" | Where-Object { $_ -match '^open_tree_attr\b' }
        (Get-MountApiSupport -Feature OpenTreeAttr).UsedBy | Should -BeNullOrEmpty -Because 'no command stops without it: New-StagedMount calls it where the kernel has it, and open_tree and mount_setattr where not'
        $row | Should -Match '\(none\)\s*$'
    }
}

Describe 'Get-Help -Online' {
    BeforeAll {
        # pwsh opens the address with xdg-open (through .NET's shell execute): a stand-in first in PATH writes it down.
        $script:bin = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'bin')).FullName
        $script:opened = Join-Path $tree.Root 'opened.txt'
        Set-Content -LiteralPath (Join-Path $bin 'xdg-open') -Value "#!/bin/sh`nprintf '%s\n' `"`$1`" >> '$opened'"
        & chmod +x (Join-Path $bin 'xdg-open')
    }

    It 'opens each cmdlet''s own page in the repository, which is also its HelpUri' {
        $names = (Get-Command -Module MountHotplug -CommandType Cmdlet).Name
        $run = Invoke-FreshPwsh -Script (($names | ForEach-Object { "Get-Help $_ -Online" }) -join '; ') -Environment @{ PATH = "$bin`:$env:PATH" }
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $expected = $names | ForEach-Object { "https://github.com/MountHotplug/MountHotplug/blob/main/docs/$_.md" }
        Get-Content -LiteralPath $opened | Should -Be $expected
        $names | ForEach-Object { (Get-Command $_).HelpUri } | Should -Be $expected
    }
}

Describe 'Get-Help text of <_>' -ForEach $cmdletNames {
    It 'shows code spans as plain text, without Markdown backticks' {
        $help = Get-Help $_ -Full
        $prose = @(
            $help.Synopsis
            $help.description.Text
            $help.parameters.parameter.description.Text
            $help.returnValues.returnValue.description.Text
            $help.inputTypes.inputType.description.Text
            $help.alertSet.alert.Text
            # The remarks under an example; its code is PowerShell, where a backtick is an escape.
            $help.examples.example.remarks.Text
        ) | Where-Object { $_ }
        $prose | Should -Not -BeNullOrEmpty
        $prose | Where-Object { $_ -match '`' } | Should -BeNullOrEmpty
    }
}

Describe 'about_MountHotplug' {
    It 'shows code spans as plain text, without Markdown backticks' {
        $topic = (Get-Help about_MountHotplug | Out-String) -split "`n"
        $topic | Where-Object { $_ -match '`' } | Should -BeNullOrEmpty
    }
}

Describe 'New-StagedMount -StageName -WhatIf' -Tag Privileged {
    It 'says what it would keep, and keeps and outputs nothing' {
        $name = "whatif-$PID"
        $run = Invoke-FreshPwsh -Script "`$m = New-StagedMount -Path '$($tree.Data)' -StageName $name -WhatIf; `"staged=`$(`$null -ne `$m)`""
        $run.StandardError | Should -BeNullOrEmpty
        $run.StandardOutput | Should -Match "What if: .*$([regex]::Escape($tree.Data)).*'$name'"
        $run.StandardOutput | Should -Match '(?m)^staged=False\s*$'
        Test-Path -LiteralPath "/run/mounthotplug/stage/$name" | Should -BeFalse
    }
}
