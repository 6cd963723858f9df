# The table views at 80 and 200 columns (issue 13, item 5): in an 80-column console every essential column shows and
# its values are whole (wrapped if long, never cut off with '…'); at 200 columns the views show more. For every output
# type, and for the Deserialized.* copies that Import-Clixml and remoting bring back. Real objects.
BeforeDiscovery {
    $script:sampleNames = @('ContainerNamespace', 'StagedMount', 'AttachedMount', 'Mount', 'MountApiFeature', 'MountEvent', 'MountTopology', 'TopologyMount')
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:runc = Start-RuncContainer "mhp-i13v-$PID"
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    $script:named = Get-ContainerNamespace -Name $runc.Name -Runtime Runc
    # Host paths as short as an admin's (/tank/media): the temporary tree's are longer than a view's Source column.
    $script:source = [IO.Directory]::CreateDirectory("/tmp/i13v-$PID").FullName
    $script:staged = New-StagedMount -Path $source -ReadOnly -NoSuid -Propagation Shared
    $script:attached = New-StagedMount -Path $source -ReadOnly -NoSuid | Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13v -CreateTarget -PassThru
    $script:mount = Get-Mount -Namespace $ct -Path /mnt/i13v
    # A mount point longer than any column, as a host's mount table has them: it must not push columns out.
    $container.ExecOrThrow('mkdir', '-p', '/srv/a-directory-with-a-long-name/and-a-long-subdirectory')
    $container.ExecOrThrow('mount', '-t', 'tmpfs', 'i13v-long', '/srv/a-directory-with-a-long-name/and-a-long-subdirectory')
    $watched = [MountHotplug.MountWatchEvent]::new([DateTimeOffset]::Now, 'Attached', $mount.MountId, $PID, $mount.ToEntry())
    $event = New-MountEvent $watched $named
    $topology = [MountHotplug.MountTopology]::Parse((Export-MountTopology -Namespace $ct -Path /mnt))

    # Each sample: what is rendered (a whole table where long values are usual), the row checked (the first one, or the
    # one that matches Row), the columns an 80-column console must show with the values that must be whole on that row,
    # and the columns and values only a 200-column one shows.
    $script:samples = @{
        ContainerNamespace = @{ Object = $named
            Essential = [ordered]@{ Runtime = 'Runc'; Name = $runc.Name; PID = "$($runc.Pid)"; Process = 'testinit'; MountNs = "$($named.MountNamespaceId)"; UserNs = "$($named.UserNamespaceId)"; OwnUserNs = 'True' }
            More = [ordered]@{ CallerNs = 'False'; Alive = 'True'; Root = '/' } }
        StagedMount = @{ Object = $staged
            Essential = [ordered]@{ State = 'Staged'; Source = $source; Attributes = 'ro,nosuid'; MountId = "$($staged.MountId)" }
            More = [ordered]@{ Propagation = 'Shared'; Sealed = 'False' } }
        AttachedMount = @{ Object = $attached
            Essential = [ordered]@{ State = 'Attached'; Source = $source; Attributes = 'ro,nosuid'; MountId = "$($attached.MountId)"; PID = "$($container.Pid)"; Target = '/mnt/i13v' }
            More = [ordered]@{ Propagation = 'Private'; Sealed = 'False' } }
        Mount = @{ Object = (Get-Mount -Namespace $ct); Row = '/mnt/i13v'
            Essential = [ordered]@{ Id = "$($mount.OldMountId)"; MountPoint = '/mnt/i13v'; Type = $mount.FileSystemType; Source = $mount.Source; Options = 'ro,nosuid,relatime'; Propagation = 'private' }
            More = [ordered]@{ Parent = "$($mount.OldParentId)"; Root = $source } }
        MountApiFeature = @{ Object = (Get-MountApiSupport); Row = '^move_mount\(MOVE_MOUNT_BENEATH\)'
            Essential = [ordered]@{ Name = 'move_mount(MOVE_MOUNT_BENEATH)'; Supported = 'yes'; Since = '6.5'; UsedBy = 'Move-MountIntoNamespace -Replace' }
            More = [ordered]@{} }
        MountEvent = @{ Object = $event
            Essential = [ordered]@{ Kind = 'Attached'; MountPoint = '/mnt/i13v'; Type = $mount.FileSystemType; Source = $mount.Source; PID = "$PID" }
            More = [ordered]@{ MountId = "$($mount.MountId)"; Container = $runc.Name } }
        MountTopology = @{ Object = $topology
            Essential = [ordered]@{ Root = '/mnt'; Mounts = '1'; Groups = '0'; Format = 'MountHotplug.MountTopology/1' }
            More = [ordered]@{} }
        TopologyMount = @{ Object = $topology.Mounts[0]
            Essential = [ordered]@{ Id = '1'; Path = 'i13v'; Type = $mount.FileSystemType; Source = $mount.Source; Options = 'ro,nosuid,relatime' }
            More = [ordered]@{ Superblock = '1'; Device = $topology.Mounts[0].Device; Root = $source } }
    }
    $script:xml = Join-Path $tree.Root 'view.xml'

    # The header line, the rule under it, and the first line of the row checked, as Out-String renders them at $Width.
    function script:Get-Table($Sample, [int] $Width) {
        $text = $Sample.Object | Out-String -Width $Width
        $lines = $text -split "`n" | ForEach-Object TrimEnd
        $rule = [array]::FindIndex([string[]] $lines, [Predicate[string]] { param($l) $l -match '^\s*-+( +-+)*$' })
        $rows = $lines | Select-Object -Skip ($rule + 1)
        $row = if ($Sample.Row) { $rows | Where-Object { $_ -match $Sample.Row } | Select-Object -First 1 } else { $rows[0] }
        [pscustomobject]@{ Text = $text; Lines = $lines; Header = $lines[$rule - 1]; Row = $row }
    }
}

AfterAll {
    Invoke-Cleanup { if ($script:staged) { $staged.Dispose() } }, { if ($script:named) { $named.Dispose() } }, { if ($script:ct) { $ct.Dispose() } },
        { Stop-RuncContainer $script:runc }, { Remove-ContainerFixture $script:fixture }, { if ($script:source) { [IO.Directory]::Delete($source) } }
}

Describe 'The view of <_>' -Tag Privileged -ForEach $sampleNames {
    BeforeAll {
        $script:sample = $samples[$_]
    }

    It 'shows every essential column at 80 columns, with its value whole on the row' {
        $table = Get-Table $sample 80
        $table.Lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 80 -Because "'$_' must fit" }
        $table.Text | Should -Not -Match '…'
        $table.Row | Should -Not -BeNullOrEmpty
        $labels = -split $table.Header
        foreach ($label in $sample.Essential.Keys) {
            $labels | Should -Contain $label -Because "column $label belongs in an 80-column console"
            # The first row of the object (its first line): a value that fits its column is there in full.
            $table.Row | Should -Match "(^|\s)$([regex]::Escape($sample.Essential[$label]))(\s|$)" -Because "the $label value"
        }
    }

    It 'shows more at 200 columns, and nothing cut off' {
        $table = Get-Table $sample 200
        $table.Text | Should -Not -Match '…'
        $labels = -split $table.Header
        foreach ($label in @($sample.Essential.Keys) + @($sample.More.Keys)) { $labels | Should -Contain $label }
        foreach ($label in $sample.More.Keys) {
            $table.Row | Should -Match "(^|\s)$([regex]::Escape($sample.More[$label]))(\s|$)" -Because "the $label value"
        }
        if ($sample.More.Count) {
            @(-split (Get-Table $sample 80).Header).Count | Should -BeLessThan $labels.Count -Because 'a wide console shows more columns'
        }
    }

    It 'renders the Deserialized copy the same way at 80 and 200 columns' {
        $sample.Object | Export-Clixml -LiteralPath $xml -Depth 3
        $back = Import-Clixml -LiteralPath $xml
        @($back)[0].PSObject.TypeNames[0] | Should -BeLike 'Deserialized.MountHotplug.*'
        foreach ($width in 80, 200) { ($back | Out-String -Width $width) | Should -Be ($sample.Object | Out-String -Width $width) }
    }
}
