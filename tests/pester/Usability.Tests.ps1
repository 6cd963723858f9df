# What a PowerShell user trips over in real pwsh (issue 13): objects that must undo their own hot-plug after their
# ContainerNamespace is gone, pipelines fed from CSV/JSON rows, and how errors read.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
}

AfterAll {
    Remove-ContainerFixture $script:fixture
}

Describe 'Remove-Mount undoes a hot-plug whose ContainerNamespace was disposed or deserialized' -Tag Privileged {
    BeforeEach {
        $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    }

    AfterEach {
        $script:ct.Dispose()
    }

    It 'unplugs a mount after the namespace object was disposed, and -RemoveTarget removes what it created' {
        $mount = New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13d/data -CreateTarget -PassThru
        $ct.Dispose()
        $mount | Remove-Mount -RemoveTarget -Confirm:$false -ErrorAction Stop
        $mount.State | Should -Be 'Removed'
        Get-ContainerMountLine $container '/mnt/i13d/data' | Should -BeNullOrEmpty
        $container.Exec('test', '-e', '/mnt/i13d').ExitCode | Should -Not -Be 0 -Because '-RemoveTarget removes the directories -CreateTarget made'
    }

    It 'unplugs a mount that came back deserialized from Start-Job' {
        $manifest = Get-ModuleManifestPath
        $job = Start-Job -ScriptBlock {
            Import-Module $using:manifest
            $ns = Get-ContainerNamespace -ProcessId $using:container.Pid
            try { New-StagedMount -Path $using:tree.Data | Move-MountIntoNamespace -Namespace $ns -Target /mnt/i13j/data -CreateTarget -PassThru }
            finally { $ns.Dispose() }
        }
        $mount = $job | Receive-Job -Wait -AutoRemoveJob -ErrorAction Stop
        $mount.PSObject.TypeNames | Should -Contain 'Deserialized.MountHotplug.StagedMount'
        Get-ContainerMountLine $container '/mnt/i13j/data' | Should -Not -BeNullOrEmpty
        $mount | Remove-Mount -RemoveTarget -Confirm:$false -ErrorAction Stop
        Get-ContainerMountLine $container '/mnt/i13j/data' | Should -BeNullOrEmpty
        $container.Exec('test', '-e', '/mnt/i13j').ExitCode | Should -Not -Be 0
    }

    It 'refuses with MountChanged and unmounts nothing when another mount is on top now' {
        $mount = New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13s -CreateTarget -PassThru
        $top = New-StagedMount -Path $tree.Root | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13s -Force -PassThru
        $ct.Dispose()
        $mount | Remove-Mount -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.FullyQualifiedErrorId | Should -Be 'MountChanged,MountHotplug.RemoveMountCommand'
        @($container.ExecOrThrow('cat', '/proc/self/mountinfo') -split "`n" | Where-Object { $_ -and ($_ -split ' ')[4] -eq '/mnt/i13s' }) |
            Should -HaveCount 2 -Because 'neither mount was taken'
        $top | Remove-Mount -Confirm:$false -ErrorAction Stop
        $mount | Remove-Mount -Confirm:$false -ErrorAction Stop
    }

    It 'refuses with ContainerExited when the PID is another process now, and unmounts nothing' {
        $mount = New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13p -CreateTarget -PassThru
        $file = Join-Path $tree.Root 'mount.clixml'
        $mount | Export-Clixml -LiteralPath $file
        $copy = Import-Clixml -LiteralPath $file
        # The same PID with another start time: what a PID reused by a new process looks like.
        $copy.NamespaceProcessStartTime = $copy.NamespaceProcessStartTime + 1
        $copy | Remove-Mount -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.FullyQualifiedErrorId | Should -Be 'ContainerExited,MountHotplug.RemoveMountCommand'
        "$failed" | Should -Match 'another process'
        Get-ContainerMountLine $container '/mnt/i13p' | Should -Not -BeNullOrEmpty
        $mount | Remove-Mount -Confirm:$false -ErrorAction Stop
    }

    It 'refuses with ContainerExited when the container is gone' {
        $other = Start-Sandbox
        try {
            $ns = Get-ContainerNamespace -ProcessId $other.Pid
            $mount = New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ns -Target /mnt/i13x -CreateTarget -PassThru
            $ns.Dispose()
        }
        finally { $other.Dispose() }
        $mount | Remove-Mount -Confirm:$false -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.FullyQualifiedErrorId | Should -Be 'ContainerExited,MountHotplug.RemoveMountCommand'
    }
}

Describe 'Set-MountAttribute and Set-MountGroup act on a Get-Mount object whose ContainerNamespace was disposed' -Tag Privileged {
    It 're-pins the container from the object, changes that mount, and refuses a disposed -Namespace given by the caller' {
        $ct = Get-ContainerNamespace -ProcessId $container.Pid
        try {
            New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13r -CreateTarget
            $listed = Get-Mount -Namespace $ct -Path /mnt/i13r
        }
        finally { $ct.Dispose() }

        $listed | Set-MountAttribute -ReadOnly -Confirm:$false -ErrorAction Stop
        (Get-ContainerMountLine $container '/mnt/i13r') -split ' ' | Select-Object -Index 5 | Should -Match '(^|,)ro(,|$)'
        Set-MountGroup -Source / -Target $listed -Confirm:$false -ErrorVariable joined -ErrorAction SilentlyContinue
        $joined.FullyQualifiedErrorId | Should -Not -Match '^NamespaceDisposed' -Because 'the object names its container again'

        Set-MountAttribute -Path /mnt/i13r -Namespace $ct -ReadOnly:$false -Confirm:$false -ErrorVariable refused -ErrorAction SilentlyContinue
        $refused.FullyQualifiedErrorId | Should -Be 'NamespaceDisposed,MountHotplug.SetMountAttributeCommand'

        $again = Get-ContainerNamespace -ProcessId $container.Pid
        try { Remove-Mount -Path /mnt/i13r -Namespace $again -Confirm:$false -ErrorAction Stop }
        finally { $again.Dispose() }
    }
}

Describe 'Rows from Import-Csv, ConvertFrom-Json and hashtables bind targets' -Tag Privileged {
    BeforeAll {
        $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
        $script:a = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'a')).FullName
        $script:b = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'b')).FullName
        [IO.File]::WriteAllText((Join-Path $a 'which'), "a`n")
        [IO.File]::WriteAllText((Join-Path $b 'which'), "b`n")
    }

    AfterAll {
        $script:ct.Dispose()
    }

    It 'attaches each Import-Csv row with columns <Column>,Target at its own target' -ForEach @(@{ Column = 'Path' }, @{ Column = 'Source' }) {
        $csv = Join-Path $tree.Root "mounts-$Column.csv"
        @([pscustomobject]@{ $Column = $a; Target = "/mnt/csv$Column/a" }, [pscustomobject]@{ $Column = $b; Target = "/mnt/csv$Column/b" }) |
            Export-Csv -LiteralPath $csv
        $mounts = Import-Csv -LiteralPath $csv | New-StagedMount | Move-MountIntoNamespace -Namespace $ct -CreateTarget -PassThru -ErrorAction Stop
        try {
            $mounts.Target | Should -Be "/mnt/csv$Column/a", "/mnt/csv$Column/b"
            $container.ExecOrThrow('cat', "/mnt/csv$Column/a/which") | Should -Be "a`n"
            $container.ExecOrThrow('cat', "/mnt/csv$Column/b/which") | Should -Be "b`n"
        }
        finally { $mounts | Remove-Mount -RemoveTarget -Confirm:$false }
    }

    It 'attaches ConvertFrom-Json rows and hashtables at their targets' {
        $json = ConvertTo-Json @(@{ Source = $a; Target = '/mnt/json/a' }) | ConvertFrom-Json
        $mounts = @($json; @{ Path = $b; Target = '/mnt/json/b' }) | New-StagedMount | Move-MountIntoNamespace -Namespace $ct -CreateTarget -PassThru -ErrorAction Stop
        try {
            $mounts.Target | Should -Be '/mnt/json/a', '/mnt/json/b'
            $container.ExecOrThrow('cat', '/mnt/json/b/which') | Should -Be "b`n"
        }
        finally { $mounts | Remove-Mount -RemoveTarget -Confirm:$false }
    }

    It 'fails only the row without a target, with TargetMissing' {
        $rows = @([pscustomobject]@{ Path = $a; Target = '/mnt/rows/a' }, [pscustomobject]@{ Path = $tree.Data; Target = '' }, [pscustomobject]@{ Path = $b; Target = '/mnt/rows/b' })
        $mounts = $rows | New-StagedMount | Move-MountIntoNamespace -Namespace $ct -CreateTarget -PassThru -ErrorVariable failed -ErrorAction SilentlyContinue
        try {
            $failed.FullyQualifiedErrorId | Should -Be 'TargetMissing,MountHotplug.MoveMountIntoNamespaceCommand'
            $mounts.Target | Should -Be '/mnt/rows/a', '/mnt/rows/b'
        }
        finally { $mounts | Remove-Mount -RemoveTarget -Confirm:$false }
    }

    It 'still takes path strings and Get-ChildItem output from the pipeline' {
        $staged = @($a | New-StagedMount) + @(Get-Item -LiteralPath $b | New-StagedMount)
        try { $staged.Source | Should -Be $a, $b }
        finally { $staged | ForEach-Object Dispose }
    }
}

Describe 'Errors as pwsh shows them' -Tag Privileged {
    It 'prints the recommendation once in the default ConciseView' {
        $run = Invoke-FreshPwsh -Script "New-StagedMount -Path '$($tree.Root)/no-such-dir'"
        $hint = 'Check the source path on the host.'
        $shown = $run.StandardOutput + $run.StandardError
        ([regex]::Matches($shown, [regex]::Escape($hint))).Count | Should -Be 1 -Because $shown
    }

    It 'names the target inside the container, not the host source, for a target problem' {
        $container.ExecOrThrow('ln', '-s', '/tmp', '/mnt/i13link')
        $ct = Get-ContainerNamespace -ProcessId $container.Pid
        try {
            New-StagedMount -Path $tree.Data | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13link -ErrorVariable failed -ErrorAction SilentlyContinue
        }
        finally { $ct.Dispose() }
        $failed.FullyQualifiedErrorId | Should -Be 'TargetIsSymlink,MountHotplug.MoveMountIntoNamespaceCommand'
        "$($failed.TargetObject)" | Should -BeLike "/mnt/i13link in PID $($container.Pid)*"
        $failed.CategoryInfo.TargetName | Should -BeLike '/mnt/i13link*'
        "$($failed.TargetObject)" | Should -Not -BeLike "*$($tree.Data)*"
    }

    It 'names the source for a source problem' {
        New-StagedMount -Path "$($tree.Root)/no-such-dir" -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.TargetObject | Should -Be "$($tree.Root)/no-such-dir"
    }
}

Describe 'Remove-Mount -RemoveTarget after a batch' -Tag Privileged {
    It 'removes the parent the first mount created for all of them, once the last mount in it is gone' {
        $ct = Get-ContainerNamespace -ProcessId $container.Pid
        try {
            $dirs = foreach ($name in 'one', 'two', 'three') { [IO.Directory]::CreateDirectory((Join-Path $tree.Root "batch/$name")) }
            $mounts = $dirs | New-StagedMount | Move-MountIntoNamespace -Namespace $ct -Target { '/mnt/batch/' + (Split-Path $_.Source -Leaf) } -CreateTarget -PassThru -ErrorAction Stop
            $mounts[0].CreatedPaths | Should -Contain '/mnt/batch' -Because 'the first mount created the parent for all of them'
            $mounts | Remove-Mount -RemoveTarget -Confirm:$false -WarningVariable warned -ErrorAction Stop
        }
        finally { $ct.Dispose() }
        $warned | Should -BeNullOrEmpty
        $container.Exec('test', '-e', '/mnt/batch').ExitCode | Should -Not -Be 0 -Because 'nothing of the batch is left'
        $mounts.CreatedPaths | Should -BeNullOrEmpty
    }
}

Describe 'New-StagedMount -Path expands wildcards on the host, -LiteralPath does not' -Tag Privileged {
    BeforeAll {
        $script:wild = [IO.Directory]::CreateDirectory((Join-Path $tree.Root 'wild')).FullName
        foreach ($name in 'x1', 'x2', '[b]') { [void] [IO.Directory]::CreateDirectory((Join-Path $wild $name)) }
    }

    It 'stages every directory a -Path pattern matches' {
        $staged = @(New-StagedMount -Path (Join-Path $wild 'x*') -ErrorAction Stop)
        try { $staged.Source | Sort-Object | Should -Be (Join-Path $wild 'x1'), (Join-Path $wild 'x2') }
        finally { $staged | ForEach-Object Dispose }
    }

    It 'reports a pattern that matches nothing as SourceNotFound' {
        $staged = New-StagedMount -Path (Join-Path $wild 'none*') -ErrorVariable failed -ErrorAction SilentlyContinue
        $staged | Should -BeNullOrEmpty
        $failed.FullyQualifiedErrorId | Should -Be 'SourceNotFound,MountHotplug.NewStagedMountCommand'
    }

    It 'takes a -LiteralPath with brackets as the name it is' {
        $staged = New-StagedMount -LiteralPath (Join-Path $wild '[b]') -ErrorAction Stop
        try { $staged.Source | Should -Be (Join-Path $wild '[b]') }
        finally { $staged.Dispose() }
    }
}
