# Fan-out as PowerShell users do it: PowerShell remoting over SSH to a throwaway sshd on 127.0.0.1 (its own host and
# client keys, the pinned pwsh as subsystem), three sessions at once, each hot-plugging into its own sandbox container,
# listing and unplugging; the deserialized results render with the module's table views; and the fleet runbook
# reports one row per host, a host that cannot be reached included.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:others = @()
    $script:others += Start-Sandbox
    $script:others += Start-Sandbox
    $script:containers = @($container) + $others
    $script:server = Start-TestSshd -Directory ([IO.Directory]::CreateDirectory((Join-Path $tree.Root 'ssh')).FullName)
    $script:ssh = Get-TestSshParameters $server
    $script:sessions = New-PSSession -HostName root@127.0.0.1, root@127.0.0.1, root@127.0.0.1 @ssh
    # Each session gets its own container, and imports this build of the module.
    for ($i = 0; $i -lt 3; $i++) {
        Invoke-Command -Session $sessions[$i] -ArgumentList (Get-ModuleManifestPath), $containers[$i].Pid -ScriptBlock {
            param($Manifest, $ContainerPid)
            Import-Module $Manifest
            $global:ContainerPid = $ContainerPid
        }
    }
}

AfterAll {
    Invoke-Cleanup { if ($script:sessions) { $sessions | Remove-PSSession } }, { Stop-TestSshd $script:server },
        { $script:others | ForEach-Object { $_.Dispose() } }, { Remove-ContainerFixture $script:fixture }
}

Describe 'Invoke-Command -HostName over SSH' -Tag Privileged {
    It 'uses three distinct remote pwsh processes' {
        $pids = Invoke-Command -Session $sessions -ThrottleLimit 3 -ScriptBlock { $PID }
        $pids | Sort-Object -Unique | Should -HaveCount 3
        $pids | Should -Not -Contain $PID
    }

    It 'hot-plugs into a container per session, three sessions at once' {
        $results = Invoke-Command -Session $sessions -ThrottleLimit 3 -ArgumentList $tree.Data -ScriptBlock {
            param($Data)
            $ct = Get-ContainerNamespace -ProcessId $global:ContainerPid
            try { New-StagedMount -Path $Data -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target /mnt/fleet -CreateTarget -PassThru }
            finally { $ct.Dispose() }
        }
        $results | Should -HaveCount 3
        $results | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'Deserialized.MountHotplug.StagedMount' }
        $results.State | Should -Be @('Attached', 'Attached', 'Attached')
        $results.NamespaceProcessId | Sort-Object | Should -Be ($containers.Pid | Sort-Object)
        foreach ($each in $containers) { $each.ExecOrThrow('cat', '/mnt/fleet/hello.txt') | Should -Be $tree.Content }

        # The client renders them with the module's table view, PSComputerName appended.
        $lines = ($results | Out-String -Width 250) -split "`n" | Where-Object { $_.Trim() }
        $lines[0] | Should -Match '^State\s+Source\s+Attributes\s+MountId\s+PID\s+Target\s+Propagation\s+Sealed\s+StageName\s+PSComputerName'
        # The temporary tree's path is longer than the Source column, so it wraps; its start is on the row.
        ($lines | Where-Object { $_ -match "^Attached $([regex]::Escape($tree.Data.Substring(0, 20))).* /mnt/fleet .*\s127\.0\.0\.1\s*$" }) | Should -HaveCount 3
        $results.Source | Should -Be @($tree.Data, $tree.Data, $tree.Data)
    }

    It 'lists the new mounts with Get-Mount through the sessions' {
        $mounts = Invoke-Command -Session $sessions -ThrottleLimit 3 -ScriptBlock {
            $ct = Get-ContainerNamespace -ProcessId $global:ContainerPid
            try { Get-Mount -Namespace $ct -Path /mnt/fleet } finally { $ct.Dispose() }
        }
        $mounts | Should -HaveCount 3
        $mounts | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'Deserialized.MountHotplug.Mount' }
        $mounts.MountPoint | Should -Be @('/mnt/fleet', '/mnt/fleet', '/mnt/fleet')
        (($mounts | Out-String -Width 250) -split "`n" | Where-Object { $_.Trim() })[0] | Should -Match '^\s*Id\s+MountPoint\s+Type\s.*\sParent\s+Root\s+PSComputerName'
    }

    It 'unplugs through the sessions' {
        Invoke-Command -Session $sessions -ThrottleLimit 3 -ScriptBlock {
            $ct = Get-ContainerNamespace -ProcessId $global:ContainerPid
            try { Remove-Mount -Path /mnt/fleet -Namespace $ct -Confirm:$false } finally { $ct.Dispose() }
        }
        foreach ($each in $containers) {
            Get-ContainerMountLine $each '/mnt/fleet' | Should -BeNullOrEmpty
            $each.Exec('test', '-e', '/mnt/fleet/hello.txt').ExitCode | Should -Be 1
        }
    }
}

Describe 'examples/Add-FleetDataset.ps1' -Tag Privileged {
    It 'gives one row per host: attached where it could, the error where it could not, and goes on' {
        $rows = & (Join-Path (Get-Repository) 'examples/Add-FleetDataset.ps1') -HostName root@127.0.0.2, root@127.0.0.1 `
            -ProcessId $container.Pid -Path $tree.Data -Target /mnt/fleetbook -Module (Get-ModuleManifestPath) `
            -Port $ssh.Port -KeyFilePath $ssh.KeyFilePath -SshOption $ssh.Options -ConnectingTimeout $ssh.ConnectingTimeout -ThrottleLimit 2
        $rows | Should -HaveCount 2
        $rows[0].HostName | Should -Be 'root@127.0.0.2'
        $rows[0].Status | Should -Be 'Failed'
        $rows[0].Error | Should -Not -BeNullOrEmpty
        $rows[1].HostName | Should -Be 'root@127.0.0.1'
        $rows[1].Status | Should -Be 'Attached' -Because "$($rows[1].Error)"
        $rows[1].MountId | Should -BeGreaterThan 0
        $rows[1].Error | Should -BeNullOrEmpty
        $container.ExecOrThrow('cat', '/mnt/fleetbook/hello.txt') | Should -Be $tree.Content
    }
}
