# Sync-ContainerMount fed as users feed it: hashtables, Import-Csv rows, ConvertFrom-Json objects, and -Path files (.psd1
# read without running it, .json), against a real sandbox container; each plan run twice, the second all InSync.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    $script:shares = foreach ($name in 'alpha', 'beta') {
        $dir = New-Item -ItemType Directory -Path (Join-Path $tree.Root "shares/$name")
        Set-Content -LiteralPath (Join-Path $dir 'name.txt') -Value $name
        $dir.FullName
    }

    # The options field of the container's own mountinfo line for a mount point ('' when nothing is mounted there).
    function script:Get-Options([string] $MountPoint) {
        $line = Get-ContainerMountLine $container $MountPoint
        if ($line) { ($line -split ' ')[5] } else { '' }
    }

    # Unplugs everything Sync placed in the container, so that each test starts from nothing.
    function script:Reset-Sync { Sync-ContainerMount -Namespace $ct -Mount @() -Prune -ErrorAction Stop | Out-Null }
}

AfterAll {
    Invoke-Cleanup { if ($script:ct) { Reset-Sync; $ct.Dispose() } }, { Remove-ContainerFixture $script:fixture }
}

Describe 'Sync-ContainerMount fed from other cmdlets' -Tag Privileged {
    AfterEach { Reset-Sync }

    It 'hashtables from the pipeline are added, then in sync' {
        $plan = @{ Path = $shares[0]; Target = '/srv/h/alpha'; ReadOnly = $true }, @{ Source = $shares[1]; Target = '/srv/h/beta'; NoExec = $true }
        $first = $plan | Sync-ContainerMount -Namespace $ct
        $first.Action | Should -Be @('Added', 'Added')
        $container.ExecOrThrow('cat', '/srv/h/beta/name.txt') | Should -Be "beta`n"
        Get-Options '/srv/h/alpha' | Should -Match '^ro,'
        Get-Options '/srv/h/beta' | Should -Match '\bnoexec\b'

        $second = $plan | Sync-ContainerMount -Namespace $ct
        $second.Action | Should -Be @('InSync', 'InSync')
        $second.MountIdAfter | Should -Be $first.MountIdAfter
    }

    It 'Import-Csv rows (strings true, false and empty cells) are added, updated when the CSV changes, and pruned when a row goes' {
        $csv = Join-Path $tree.Root 'sync.csv'
        @(
            [pscustomobject]@{ Path = $shares[0]; Target = '/srv/csv/alpha'; ReadOnly = 'true'; NoSuid = 'true'; Propagation = '' }
            [pscustomobject]@{ Path = $shares[1]; Target = '/srv/csv/beta'; ReadOnly = 'false'; NoSuid = ''; Propagation = 'Unbindable' }
        ) | Export-Csv -LiteralPath $csv
        (Import-Csv -LiteralPath $csv | Sync-ContainerMount -Namespace $ct).Action | Should -Be @('Added', 'Added')
        Get-Options '/srv/csv/alpha' | Should -Match '^ro,nosuid,'
        Get-Options '/srv/csv/beta' | Should -Match '^rw,'
        (Import-Csv -LiteralPath $csv | Sync-ContainerMount -Namespace $ct).Action | Should -Be @('InSync', 'InSync')

        # alpha becomes writable; beta is taken out of the CSV.
        $rows = Import-Csv -LiteralPath $csv | Where-Object Target -eq '/srv/csv/alpha' | ForEach-Object { $_.ReadOnly = 'false'; $_ }
        $rows | Export-Csv -LiteralPath $csv
        $changed = Import-Csv -LiteralPath $csv | Sync-ContainerMount -Namespace $ct -Prune
        $changed | ForEach-Object { "$($_.Action) $($_.Target)" } | Should -Be @('Updated /srv/csv/alpha', 'Removed /srv/csv/beta')
        Get-Options '/srv/csv/alpha' | Should -Match '^rw,nosuid,'
        Get-Options '/srv/csv/beta' | Should -BeNullOrEmpty
    }

    It 'ConvertFrom-Json objects are added, then in sync' {
        $plan = @"
[ { "path": "$($shares[0])", "target": "/srv/json/a", "readOnly": true, "noDev": true },
  { "path": "$($shares[1])", "target": "/srv/json/b", "readOnly": false, "propagation": "private" } ]
"@ | ConvertFrom-Json
        ($plan | Sync-ContainerMount -Namespace $ct).Action | Should -Be @('Added', 'Added')
        Get-Options '/srv/json/a' | Should -Match '^ro,nodev,'
        (Sync-ContainerMount -Namespace $ct -Mount $plan).Action | Should -Be @('InSync', 'InSync')
    }

    It 'a CSV row with a misspelt column is an error of its own, and the other rows are synced' {
        $rows = @(
            [pscustomobject]@{ Path = $shares[0]; Target = '/srv/typo/a'; ReadOnyl = 'true' }
            [pscustomobject]@{ Path = $shares[1]; Target = '/srv/typo/b'; ReadOnyl = '' }
        )
        $results = $rows | Sync-ContainerMount -Namespace $ct -ErrorVariable failed -ErrorAction SilentlyContinue
        $results | Should -BeNullOrEmpty
        $failed.FullyQualifiedErrorId | Should -Be @('InvalidEntry,MountHotplug.SyncContainerMountCommand', 'InvalidEntry,MountHotplug.SyncContainerMountCommand')
        $failed[0].ErrorDetails.Message | Should -Match 'ReadOnyl'
        $failed[0].TargetObject | Should -Be '/srv/typo/a'
        Get-Options '/srv/typo/a' | Should -BeNullOrEmpty
    }
}

Describe 'Sync-ContainerMount -Path' -Tag Privileged {
    AfterEach { Reset-Sync }

    It 'reads a .psd1 file without running it, host paths relative to the file' {
        $file = Join-Path $tree.Root 'shares/mounts.psd1'
        Set-Content -LiteralPath $file -Value @"
@{
    Mounts = @(
        @{ Path = 'alpha'; Target = '/srv/psd1/alpha'; ReadOnly = `$true; NoSuid = `$true }
        @{ Path = '$($shares[1])'; Target = '/srv/psd1/beta' }
    )
}
"@
        $first = Sync-ContainerMount -Namespace $ct -Path $file
        $first | ForEach-Object { "$($_.Action) $($_.Source)" } | Should -Be @("Added $($shares[0])", "Added $($shares[1])")
        Get-Options '/srv/psd1/alpha' | Should -Match '^ro,nosuid,'
        (Sync-ContainerMount -Namespace $ct -Path $file).Action | Should -Be @('InSync', 'InSync')
    }

    It 'reads a .json file, an object with a mounts array' {
        $file = Join-Path $tree.Root 'mounts.json'
        @{ mounts = @(@{ path = $shares[0]; target = '/srv/jf/alpha'; noExec = $true }) } | ConvertTo-Json -Depth 3 | Set-Content -LiteralPath $file
        (Sync-ContainerMount -Namespace $ct -Path $file).Action | Should -Be 'Added'
        Get-Options '/srv/jf/alpha' | Should -Match '\bnoexec\b'
        (Sync-ContainerMount -Namespace $ct -Path $file).Action | Should -Be 'InSync'
    }

    It 'refuses a file that is missing, of another kind, or that would have to run, and changes nothing' {
        $code = Join-Path $tree.Root 'code.psd1'
        $marker = Join-Path $tree.Root 'ran'
        Set-Content -LiteralPath $code -Value "@{ Mounts = @( @{ Path = (New-Item -Path '$marker'); Target = '/srv/code' } ) }"
        $text = Join-Path $tree.Root 'mounts.txt'
        Set-Content -LiteralPath $text -Value 'x'
        $cases = @(
            @{ File = (Join-Path $tree.Root 'missing.psd1'); Id = 'SyncFileNotFound' }
            @{ File = $text; Id = 'SyncFileInvalid' }
            @{ File = $code; Id = 'SyncFileInvalid' }
        )
        foreach ($case in $cases) {
            { Sync-ContainerMount -Namespace $ct -Path $case.File -ErrorAction Stop } |
                Should -Throw -ErrorId "$($case.Id),MountHotplug.SyncContainerMountCommand"
        }
        Test-Path -LiteralPath $marker | Should -BeFalse -Because 'a .psd1 is read, never run'
        Get-Options '/srv/code' | Should -BeNullOrEmpty
    }
}
