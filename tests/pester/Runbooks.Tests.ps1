# The runbooks in examples/ as an admin runs them, in pwsh and through ./mhp -File, against a real sandbox container
# (by its init's PID: a sandbox is no Proxmox CT). Grant-IdmappedShare.ps1 needs an unprivileged LXC container,
# which the xunit suite starts (RunbookTests); the fleet runbook has its own file with its SSH server.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:examples = Join-Path (Get-Repository) 'examples'
}

AfterAll {
    Remove-ContainerFixture $script:fixture
}

Describe 'Add-ReadOnlyDataset.ps1' -Tag Privileged {
    It 'adds the dataset read-only, nosuid and nodev, and says where' {
        $output = & (Join-Path $examples 'Add-ReadOnlyDataset.ps1') -ProcessId $container.Pid -Path $tree.Data -Target /mnt/media
        $output[0] | Should -BeLike "Added $($tree.Data) read-only at /mnt/media inside PID $($container.Pid) (testinit); mount id *."
        $output[1].State | Should -Be 'Attached'
        $container.ExecOrThrow('cat', '/mnt/media/hello.txt') | Should -Be $tree.Content
        ((Get-ContainerMountLine $container '/mnt/media') -split ' ')[5] -split ',' | Should -Contain 'nosuid'
        ((Get-ContainerMountLine $container '/mnt/media') -split ' ')[5] -split ',' | Should -Contain 'ro'
    }

    It 'with -WhatIf through ./mhp -File says what it would do and plugs nothing in' {
        $run = Invoke-Mhp -ArgumentList '-File', (Join-Path $examples 'Add-ReadOnlyDataset.ps1'), '-ProcessId', $container.Pid, '-Path', $tree.Data, '-Target', '/mnt/whatif', '-WhatIf'
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $run.StandardOutput | Should -Match "What if: Attach the staged mount of $([regex]::Escape($tree.Data))"
        Get-ContainerMountLine $container '/mnt/whatif' | Should -BeNullOrEmpty
    }

    It 'through ./mhp -File stops with exit code 1 and the runbook''s message when the CT is not running' {
        $run = Invoke-Mhp -ArgumentList '-File', (Join-Path $examples 'Add-ReadOnlyDataset.ps1'), '-CtId', 'mhp-no-such-ct', '-Path', $tree.Data, '-Target', '/mnt/none'
        $run.ExitCode | Should -Be 1
        $run.StandardError + $run.StandardOutput | Should -Match 'CT mhp-no-such-ct is not running'
    }
}

Describe 'Switch-ConfigVolume.ps1' -Tag Privileged {
    It 'mounts the first version, then swaps to the next atomically, one mount at the target' {
        $v1 = New-TestTree -Content "version 1`n"
        $v2 = New-TestTree -Content "version 2`n"
        try {
            $runbook = Join-Path $examples 'Switch-ConfigVolume.ps1'
            & $runbook -ProcessId $container.Pid -Path $v1.Data -Target /etc/app/conf.d |
                Should -Be "Mounted $($v1.Data) at /etc/app/conf.d inside PID $($container.Pid) (first version)."
            $container.ExecOrThrow('cat', '/etc/app/conf.d/hello.txt') | Should -Be "version 1`n"

            & $runbook -ProcessId $container.Pid -Path $v2.Data -Target /etc/app/conf.d |
                Should -BeLike "Swapped /etc/app/conf.d inside PID $($container.Pid) to $($v2.Data)*"
            $container.ExecOrThrow('cat', '/etc/app/conf.d/hello.txt') | Should -Be "version 2`n"
            @($container.ExecOrThrow('cat', '/proc/self/mountinfo') -split "`n" | Where-Object { $_ -and ($_ -split ' ')[4] -eq '/etc/app/conf.d' }) |
                Should -HaveCount 1
        }
        finally {
            Remove-TestTree $v1
            Remove-TestTree $v2
        }
    }
}
