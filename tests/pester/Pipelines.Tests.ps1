# Pipelines as users write them around the cmdlets: fed from Get-ChildItem, Import-Csv and ConvertFrom-Json, and
# spread over runspaces with ForEach-Object -Parallel and Start-ThreadJob. Real hot-plugs into a real container.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    # Three host directories, each with a file naming it.
    $script:shares = foreach ($name in 'alpha', 'beta', 'gamma') {
        $dir = New-Item -ItemType Directory -Path (Join-Path $tree.Root "shares/$name")
        Set-Content -LiteralPath (Join-Path $dir 'name.txt') -Value $name
        $dir
    }

    # Every mount the container has below a directory, by mount point.
    function script:Get-PluggedBelow([string] $Prefix) {
        $container.ExecOrThrow('cat', '/proc/self/mountinfo') -split "`n" | Where-Object { $_ } |
            ForEach-Object { ($_ -split ' ')[4] } | Where-Object { $_.StartsWith($Prefix) } | Sort-Object
    }

    function script:Remove-PluggedBelow([string] $Prefix) {
        Get-PluggedBelow $Prefix | ForEach-Object { Remove-Mount -Path $_ -Namespace $ct -RemoveTarget -Confirm:$false }
    }
}

AfterAll {
    Invoke-Cleanup { if ($script:ct) { $ct.Dispose() } }, { Remove-ContainerFixture $script:fixture }
}

Describe 'Pipelines fed from other cmdlets' -Tag Privileged {
    It 'Get-ChildItem | New-StagedMount | Move-MountIntoNamespace -Target { per item } plugs every directory in' {
        $attached = Get-ChildItem -Directory -LiteralPath (Join-Path $tree.Root 'shares') |
            New-StagedMount -ReadOnly |
            Move-MountIntoNamespace -Namespace $ct -Target { '/mnt/gci/' + (Split-Path $_.Source -Leaf) } -CreateTarget -PassThru
        try {
            $attached | Should -HaveCount 3
            $attached.State | Should -Be @('Attached', 'Attached', 'Attached')
            Get-PluggedBelow '/mnt/gci/' | Should -Be @('/mnt/gci/alpha', '/mnt/gci/beta', '/mnt/gci/gamma')
            $container.ExecOrThrow('cat', '/mnt/gci/beta/name.txt') | Should -Be "beta`n"
        }
        finally {
            $attached | Remove-Mount -RemoveTarget -Confirm:$false
        }
        Get-PluggedBelow '/mnt/gci/' | Should -BeNullOrEmpty
    }

    It 'Import-Csv rows of Path and Target each become a hot-plug' {
        $csv = Join-Path $tree.Root 'plan.csv'
        $shares | ForEach-Object { [pscustomobject]@{ Path = $_.FullName; Target = "/mnt/csv/$($_.Name)" } } | Export-Csv -LiteralPath $csv
        try {
            $results = Import-Csv -LiteralPath $csv | ForEach-Object {
                New-StagedMount -Path $_.Path -ReadOnly | Move-MountIntoNamespace -Namespace $ct -Target $_.Target -CreateTarget -PassThru
            }
            $results.Target | Should -Be @('/mnt/csv/alpha', '/mnt/csv/beta', '/mnt/csv/gamma')
            $container.ExecOrThrow('cat', '/mnt/csv/gamma/name.txt') | Should -Be "gamma`n"
        }
        finally {
            Remove-PluggedBelow '/mnt/csv/'
        }
        Get-PluggedBelow '/mnt/csv/' | Should -BeNullOrEmpty
    }

    It 'Import-Csv binds its Path column to New-StagedMount by property name' {
        $csv = Join-Path $tree.Root 'paths.csv'
        $shares | Select-Object @{ n = 'Path'; e = { $_.FullName } } | Export-Csv -LiteralPath $csv
        $staged = Import-Csv -LiteralPath $csv | New-StagedMount -ReadOnly
        try {
            $staged.Source | Should -Be $shares.FullName
            $staged.State | Should -Be @('Staged', 'Staged', 'Staged')
        }
        finally {
            $staged | ForEach-Object Dispose
        }
    }

    It 'ConvertFrom-Json of a plan plugs each entry in, read-only where it says so' {
        $plan = @"
[ { "path": "$($shares[0].FullName)", "target": "/mnt/json/a", "readOnly": true },
  { "path": "$($shares[1].FullName)", "target": "/mnt/json/b", "readOnly": false } ]
"@ | ConvertFrom-Json
        try {
            foreach ($entry in $plan) {
                New-StagedMount -Path $entry.path -ReadOnly:$entry.readOnly | Move-MountIntoNamespace -Namespace $ct -Target $entry.target -CreateTarget
            }
            ((Get-ContainerMountLine $container '/mnt/json/a') -split ' ')[5] | Should -Match '^ro\b'
            ((Get-ContainerMountLine $container '/mnt/json/b') -split ' ')[5] | Should -Match '^rw\b'
        }
        finally {
            Remove-PluggedBelow '/mnt/json/'
        }
    }
}

Describe 'Runspaces' -Tag Privileged {
    It 'ForEach-Object -Parallel hot-plugs from three runspaces at once' {
        $manifest = Get-ModuleManifestPath
        $initPid = $container.Pid
        try {
            $targets = $shares | ForEach-Object -ThrottleLimit 3 -Parallel {
                Import-Module $using:manifest
                $ns = Get-ContainerNamespace -ProcessId $using:initPid
                try {
                    $mount = New-StagedMount -Path $_.FullName -ReadOnly | Move-MountIntoNamespace -Namespace $ns -Target "/mnt/parallel/$($_.Name)" -CreateTarget -PassThru
                    "$($mount.Target)=$($mount.State)"
                }
                finally { $ns.Dispose() }
            }
            $targets | Sort-Object | Should -Be @('/mnt/parallel/alpha=Attached', '/mnt/parallel/beta=Attached', '/mnt/parallel/gamma=Attached')
            $container.ExecOrThrow('cat', '/mnt/parallel/alpha/name.txt') | Should -Be "alpha`n"
        }
        finally {
            Remove-PluggedBelow '/mnt/parallel/'
        }
        Get-PluggedBelow '/mnt/parallel/' | Should -BeNullOrEmpty
    }

    It 'Start-ThreadJob hot-plugs and lists the container''s mounts in background jobs' {
        $manifest = Get-ModuleManifestPath
        try {
            $jobs = foreach ($share in $shares) {
                Start-ThreadJob -ArgumentList $manifest, $container.Pid, $share.FullName, "/mnt/job/$($share.Name)" -ScriptBlock {
                    param($Manifest, $InitPid, $Path, $Target)
                    Import-Module $Manifest
                    $ns = Get-ContainerNamespace -ProcessId $InitPid
                    try {
                        New-StagedMount -Path $Path -ReadOnly | Move-MountIntoNamespace -Namespace $ns -Target $Target -CreateTarget
                        (Get-Mount -Namespace $ns -Path $Target).MountPoint
                    }
                    finally { $ns.Dispose() }
                }
            }
            $listed = $jobs | Receive-Job -Wait -AutoRemoveJob -ErrorVariable jobErrors
            $jobErrors | Should -BeNullOrEmpty
            $listed | Sort-Object | Should -Be @('/mnt/job/alpha', '/mnt/job/beta', '/mnt/job/gamma')
        }
        finally {
            Remove-PluggedBelow '/mnt/job/'
        }
        Get-PluggedBelow '/mnt/job/' | Should -BeNullOrEmpty
    }
}
