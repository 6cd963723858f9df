# Every output type as pwsh shows and stores it: the default table view at 80 and 200 columns, Export-Clixml /
# Import-Clixml (whose Deserialized.* objects remoting also brings back) and ConvertTo-Json. Real objects, from a real
# sandbox container.
BeforeDiscovery {
    # The keys of $samples below: one object of each output type, and an attached StagedMount besides a staged one.
    $sampleNames = @('MountHotplug.ContainerNamespace', 'MountHotplug.StagedMount', 'Attached MountHotplug.StagedMount', 'MountHotplug.Mount', 'MountHotplug.MountApiFeature',
        'MountHotplug.Sync.SyncResult')
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    $script:staged = New-StagedMount -Path $tree.Data -ReadOnly
    $script:attached = New-StagedMount -Path $tree.Data -ReadOnly -NoSuid | Move-MountIntoNamespace -Namespace $ct -Target /mnt/data -CreateTarget -PassThru
    $script:samples = [ordered]@{
        'MountHotplug.ContainerNamespace' = $ct
        'MountHotplug.StagedMount'        = $staged
        'Attached MountHotplug.StagedMount' = $attached
        'MountHotplug.Mount'              = Get-Mount -Namespace $ct -Path /mnt/data
        'MountHotplug.MountApiFeature'    = Get-MountApiSupport -Feature OpenTree
        # The attached mount above, as Sync sees it: the same source and attributes, so InSync and nothing changed.
        'MountHotplug.Sync.SyncResult'    = Sync-ContainerMount -Namespace $ct -Mount @{ Path = $tree.Data; Target = '/mnt/data'; ReadOnly = $true; NoSuid = $true }
    }
    $script:xml = Join-Path $tree.Root 'objects.xml'

    # The view's column labels, from the loaded format data, so that a test sees a renamed column.
    function script:Get-ViewLabels([string] $TypeName) {
        (Get-FormatData -TypeName $TypeName).FormatViewDefinition[0].Control.Headers.Label
    }
}

AfterAll {
    Invoke-Cleanup { if ($script:staged) { $staged.Dispose() } }, { if ($script:ct) { $ct.Dispose() } }, { Remove-ContainerFixture $script:fixture }
}

Describe 'Default view of <_>' -Tag Privileged -ForEach $sampleNames {
    BeforeAll {
        $script:object = $samples[$_]
        $script:labels = Get-ViewLabels $object.GetType().FullName
    }

    It 'is the table view, every line within 80 columns' {
        # pwsh may wrap a long label over several header lines at this width; the rule line comes after them.
        $lines = ($object | Out-String -Width 80) -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ }
        $lines[0] | Should -Match "^\s*$([regex]::Escape($labels[0]))\b"
        $lines | Where-Object { $_ -match '^\s*-+( +-+)+$' } | Should -HaveCount 1
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 80 -Because "'$_' must fit" }
    }

    It 'shows every column label and the values in full at 200 columns' {
        $text = $object | Out-String -Width 200
        $header = ($text -split "`n" | Where-Object { $_.Trim() })[0]
        foreach ($label in $labels) { $header | Should -Match "(^|\s)$([regex]::Escape($label))(\s|$)" }
        $text | Should -Not -Match '…'
    }
}

Describe 'Values in the views' -Tag Privileged {
    It 'shows where an attached mount went, in which process' {
        $lines = ($attached | Out-String -Width 200) -split "`n"
        $at = [array]::FindIndex([string[]] $lines, [Predicate[string]] { param($l) $l -match '^Attached ' })
        $row = $lines[$at]
        $row | Should -Match "\b$($container.Pid) /mnt/data\b"
        $row | Should -Match '\bro\b.*\bnosuid\b'
        # The temporary tree's path is longer than the Source column: it wraps onto the next line, whole.
        $header = $lines | Where-Object { $_ -match '^State\s' } | Select-Object -First 1
        $start, $end = $header.IndexOf('Source'), $header.IndexOf('Attributes')
        ($lines[$at..($at + 1)] | ForEach-Object { $_.PadRight($end).Substring($start, $end - $start).Trim() }) -join '' | Should -Be $tree.Data
    }

    It 'shows the container init of a pinned namespace' {
        ($ct | Out-String -Width 200) | Should -Match "\b$($container.Pid) testinit\b"
    }
}

Describe 'Export-Clixml and Import-Clixml of <_>' -Tag Privileged -ForEach $sampleNames {
    It 'round-trips the properties as a Deserialized object with the same table view' {
        $object = $samples[$_]
        $object | Export-Clixml -LiteralPath $xml
        $back = Import-Clixml -LiteralPath $xml
        $back.PSObject.TypeNames[0] | Should -Be "Deserialized.$($object.GetType().FullName)"
        foreach ($property in $object.PSObject.Properties | Where-Object { $_.Value -is [string] -or $_.Value -is [ValueType] }) {
            # ToString, not "$(...)": a deserialized enum is its number with the name kept for ToString.
            $back.($property.Name).ToString() | Should -Be $property.Value.ToString() -Because "property $($property.Name)"
        }
        # The view selects by type name: the deserialized copy renders with the live object's columns and values.
        ($back | Out-String -Width 200) | Should -Be ($object | Out-String -Width 200)
    }
}

Describe 'ConvertTo-Json of <_>' -Tag Privileged -ForEach $sampleNames {
    It 'writes the scalar properties, and the text reads back' {
        $object = $samples[$_]
        $json = $object | ConvertTo-Json -Depth 2 -EnumsAsStrings -WarningAction SilentlyContinue
        $back = $json | ConvertFrom-Json
        foreach ($property in $object.PSObject.Properties | Where-Object { $_.Value -is [string] -or $_.Value -is [int] -or $_.Value -is [bool] }) {
            $back.($property.Name) | Should -Be $property.Value -Because "property $($property.Name)"
        }
    }
}
