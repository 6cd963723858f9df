# Tab completion as pwsh does it (TabExpansion2), issue 13 item 6: paths inside the container a command line names, the
# file system types of a mount table, running containers' PIDs and user namespaces, and the names kept in the stage.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    # A directory only the container has, and a file system type only its mount table has.
    $container.ExecOrThrow('mkdir', '-p', '/srv/i13ctonly', '/mnt/i13ramfs')
    $container.ExecOrThrow('mount', '-t', 'ramfs', 'i13ramfs', '/mnt/i13ramfs')

    # What TabExpansion2 offers for a command line, completed at its end; $ct is this file's container.
    function script:Complete([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    }
}

AfterAll {
    Invoke-Cleanup { if ($script:ct) { $ct.Dispose() } }, { Remove-ContainerFixture $script:fixture }
}

Describe 'Paths inside the container the command line names' -Tag Privileged {
    It 'completes <Line> from the container' -ForEach @(
        @{ Line = 'Set-MountGroup -TargetNamespace $ct -Target /srv/i13' }
        @{ Line = 'Set-MountGroup -SourceNamespace $ct -Source /srv/i13' }
        @{ Line = 'Export-MountTopology -Namespace $ct -Path /srv/i13' }
        @{ Line = 'Export-MountTopology -ProcessId {pid} -Path /srv/i13' }
        @{ Line = 'Restore-MountTopology topology.json -Namespace $ct -Destination /srv/i13' }
    ) {
        (Complete $Line.Replace('{pid}', "$($container.Pid)")).CompletionText | Should -Be '/srv/i13ctonly/'
    }

    It 'offers none of the host''s files there' {
        # The host has this file tree under /tmp; the container's /tmp is empty.
        $hostOnly = $tree.Root + '/d'
        (Complete "Set-MountGroup -TargetNamespace `$ct -Target $hostOnly") | Should -BeNullOrEmpty
        (Complete "Export-MountTopology -Namespace `$ct -Path $hostOnly") | Should -BeNullOrEmpty
    }

    It 'completes the host''s paths when no namespace is named, as pwsh does' {
        (Complete "Set-MountGroup -Target $($tree.Root)/d").CompletionText | Should -Be "$($tree.Root)/data"
    }
}

Describe 'Get-Mount -FileSystemType' -Tag Privileged {
    It 'offers the types mounted in the namespace the command line names' {
        (Complete 'Get-Mount -Namespace $ct -FileSystemType ra').CompletionText | Should -Be 'ramfs'
        (Complete "Get-Mount -ProcessId $($container.Pid) -FileSystemType ").CompletionText | Should -Contain 'ramfs'
        (Complete 'Get-Mount -FileSystemType ').CompletionText | Should -Not -Contain 'ramfs' -Because 'this namespace has no ramfs'
        (Complete 'Get-Mount -FileSystemType pr').CompletionText | Should -Be 'proc'
    }
}

Describe 'Running containers for -ProcessId and -IdMap' -Tag Privileged {
    BeforeAll {
        $script:runc = Start-RuncContainer "mhp-i13-$PID"
    }

    AfterAll {
        Stop-RuncContainer $script:runc
    }

    It 'completes -ProcessId of <Command> with the PIDs of running containers, shown with their names' -ForEach @(
        @{ Command = 'Get-ContainerNamespace' }, @{ Command = 'Get-Mount' }, @{ Command = 'Export-MountTopology' }
    ) {
        $offered = Complete "$Command -ProcessId "
        $match = $offered | Where-Object CompletionText -EQ "$($runc.Pid)"
        $match | Should -HaveCount 1
        $match.ListItemText | Should -Be "$($runc.Pid) $($runc.Name)"
        $match.ToolTip | Should -Match "Runc '$([regex]::Escape($runc.Name))'"
        (Complete "$Command -ProcessId mhp-i13-$PID").CompletionText | Should -Be "$($runc.Pid)" -Because 'a name puts its PID in'
    }

    It 'completes New-StagedMount -IdMap with the user namespaces of containers that have their own' {
        $offered = (Complete "New-StagedMount $($tree.Data) -IdMap ").CompletionText
        $offered | Should -Contain "/proc/$($runc.Pid)/ns/user"
        $offered | Should -Not -Contain "/proc/$($container.Pid)/ns/user" -Because 'the sandbox container shares the host''s user namespace'
    }
}

Describe 'Names kept in the stage' -Tag Privileged {
    BeforeAll {
        New-StagedMount -Path $tree.Data -StageName i13kept | ForEach-Object Dispose
        New-StagedMount -Path $tree.Data -StageName i13data -Container i13ct | ForEach-Object Dispose
    }

    AfterAll {
        Invoke-Cleanup { Remove-StagedMount -Name i13kept -Confirm:$false }, { Remove-StagedMount -Container i13ct -Confirm:$false }
    }

    It 'completes <Line> with <Expected>' -ForEach @(
        @{ Line = 'Get-StagedMount -Name i13'; Expected = 'i13kept' }
        @{ Line = 'Remove-StagedMount -Name i13'; Expected = 'i13kept' }
        @{ Line = 'Get-StagedMount -Container i13ct -Name i13'; Expected = 'i13data' }
        @{ Line = 'Remove-StagedMount -Container i13'; Expected = 'i13ct' }
    ) {
        (Complete $Line).CompletionText | Should -Be $Expected
    }
}
