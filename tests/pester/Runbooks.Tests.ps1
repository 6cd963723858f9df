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

Describe 'Repair-ContainerMount.ps1' -Tag Privileged {
    BeforeAll {
        $script:runbookPath = Join-Path $examples 'Repair-ContainerMount.ps1'
        # What a watch leaves behind if it is not ended cleanly: its fanotify mark, and the ContainerNamespace's pidfd.
        function script:Get-OpenWatchState {
            $targets = Get-ChildItem /proc/self/fd | ForEach-Object { $_.LinkTarget }
            $marks = Get-ChildItem /proc/self/fdinfo | ForEach-Object { try { [IO.File]::ReadAllLines($_.FullName) } catch { } } |
                Where-Object { $_ -like 'fanotify mnt_ns:*' }
            [pscustomobject]@{ Marks = @($marks).Count; Pidfds = @($targets | Where-Object { $_ -eq 'anon_inode:[pidfd]' }).Count }
        }
        # By index: enumerating a stream of a pipeline that is still running waits for its end.
        function script:Get-Items($Collection) { @(for ($i = 0; $i -lt $Collection.Count; $i++) { $Collection[$i] }) -join '; ' }
        function script:Test-Mounted([string] $MountPoint) {
            [bool] ([IO.File]::ReadAllLines("/proc/$($container.Pid)/mountinfo") | Where-Object { ($_ -split ' ')[4] -eq $MountPoint })
        }
    }

    It 'puts the read-only dataset back within a second after the container''s root unmounts it, and stops cleanly' {
        $before = Get-OpenWatchState
        $session = [initialsessionstate]::CreateDefault2()
        $session.ImportPSModule((Get-ModuleManifestPath))
        $runspace = [runspacefactory]::CreateRunspace($session)
        $runspace.Open()
        $runbook = [powershell]::Create()
        $runbook.Runspace = $runspace
        [void] $runbook.AddCommand($runbookPath).AddParameters(@{ ProcessId = $container.Pid; Path = $tree.Data; Target = '/mnt/kept' })
        # No input: an open input collection would keep the script waiting for its end.
        $noInput = [Management.Automation.PSDataCollection[psobject]]::new()
        $noInput.Complete()
        $output = [Management.Automation.PSDataCollection[psobject]]::new()
        $running = $runbook.BeginInvoke($noInput, $output)
        try {
            # Added, and the namespace marked: from then on no unmount is missed.
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not ($output.Count -ge 1 -and (Get-OpenWatchState).Marks -gt $before.Marks) -and -not $running.IsCompleted -and [DateTime]::UtcNow -lt $deadline) {
                Start-Sleep -Milliseconds 10
            }
            $runbook.Streams.Error.Count | Should -Be 0 -Because (Get-Items $runbook.Streams.Error)
            $output[0].Action | Should -Be 'Added'
            ((Get-ContainerMountLine $container '/mnt/kept') -split ' ')[5] -split ',' | Should -Contain 'ro'

            # The container's root takes it away; the runbook notices and syncs it back.
            $container.ExecOrThrow('umount', '/mnt/kept')
            $clock = [Diagnostics.Stopwatch]::StartNew()
            while (-not (Test-Mounted '/mnt/kept') -and $clock.Elapsed.TotalSeconds -lt 1) { Start-Sleep -Milliseconds 2 }
            $clock.Stop()
            Test-Mounted '/mnt/kept' | Should -BeTrue -Because "the dataset must be back within one second (looked for $($clock.Elapsed.TotalMilliseconds) ms)"
            Write-Host "Repair-ContainerMount.ps1: the dataset was back $([Math]::Round($clock.Elapsed.TotalMilliseconds, 1)) ms after umount returned"
            ((Get-ContainerMountLine $container '/mnt/kept') -split ' ')[5] -split ',' | Should -Contain 'ro'
            $container.ExecOrThrow('cat', '/mnt/kept/hello.txt') | Should -Be $tree.Content
            while ($output.Count -lt 2 -and $clock.Elapsed.TotalSeconds -lt 60) { Start-Sleep -Milliseconds 10 }
            $output[1].Action | Should -Be 'Added'
        }
        finally {
            # As Ctrl+C would: the watch ends, the runbook's finally disposes the container's namespace object.
            $runbook.Stop()
        }
        try {
            $runbook.InvocationStateInfo.State | Should -Be 'Stopped'
            $runbook.Streams.Error.Count | Should -Be 0 -Because (Get-Items $runbook.Streams.Error)
            $after = Get-OpenWatchState
            $after.Marks | Should -Be $before.Marks -Because 'the fanotify group is closed'
            $after.Pidfds | Should -Be $before.Pidfds -Because 'the ContainerNamespace is disposed'
        }
        finally {
            $runbook.Dispose()
            $runspace.Dispose()
            $ct = Get-ContainerNamespace -ProcessId $container.Pid
            try { Remove-Mount -Path /mnt/kept -Namespace $ct -Confirm:$false } finally { $ct.Dispose() }
        }
    }

    It 'through ./mhp -File adds the dataset, reports it, and ends at -Timeout with exit code 0' {
        $run = Invoke-Mhp -ArgumentList '-File', $runbookPath, '-ProcessId', $container.Pid, '-Path', $tree.Data, '-Target', '/mnt/kept2', '-Timeout', '2'
        $run.ExitCode | Should -Be 0 -Because $run.StandardError
        $run.StandardError | Should -BeNullOrEmpty
        # pwsh renders the SyncResult as a table 80 columns wide here: long paths are cut short, the action and attributes are not.
        $run.StandardOutput | Should -Match '(?m)^Added\s+/mnt/kep\S*\s+\S+\s+ro,nosuid,nodev\s+\d+\s*$'
        Test-Mounted '/mnt/kept2' | Should -BeTrue
        $ct = Get-ContainerNamespace -ProcessId $container.Pid
        try { Sync-ContainerMount -Namespace $ct -Mount @() -Prune | ForEach-Object Action | Should -Be 'Removed' } finally { $ct.Dispose() }
        Test-Mounted '/mnt/kept2' | Should -BeFalse
    }
}
