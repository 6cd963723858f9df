# Output objects through ConvertTo-Json and Export-Clixml/Import-Clixml (issue 13, item 7): every value PowerShell
# shows by name (a propagation, a state, a runtime) is written as that name and read back as it, so that the usual
# filters still match after the round trip. Real objects, from a sandbox container and a runc container.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:fixture = New-ContainerFixture
    $script:container, $script:tree = $fixture.Container, $fixture.Tree
    $script:runc = Start-RuncContainer "mhp-i13s-$PID"
    $script:ct = Get-ContainerNamespace -ProcessId $container.Pid
    $script:named = Get-ContainerNamespace -Name $runc.Name -Runtime Runc
    $script:staged = New-StagedMount -Path $tree.Data -ReadOnly -Propagation Shared
    $script:attached = New-StagedMount -Path $tree.Data -ReadOnly -NoSuid -Propagation Shared |
        Move-MountIntoNamespace -Namespace $ct -Target /mnt/i13s -CreateTarget -PassThru
    $watched = [MountHotplug.MountWatchEvent]::new([DateTimeOffset]::Now, 'Attached', $attached.MountId, 0, $null)
    $event = New-MountEvent $watched $ct

    # Each output type, with the values it shows by name and what those names are here.
    $script:samples = [ordered]@{
        ContainerNamespace = @{ Object = $named; Names = @{ Runtime = 'Runc' } }
        StagedMount        = @{ Object = $staged; Names = @{ State = 'Staged'; Propagation = 'Shared' } }
        AttachedMount      = @{ Object = $attached; Names = @{ State = 'Attached'; Propagation = 'Shared' } }
        Mount              = @{ Object = (Get-Mount -Namespace $ct -Path /mnt/i13s)
                                Names  = @{ Propagation = 'Shared'; Atime = 'RelAtime'; ReadWith = 'ListMount'; AttributeFlags = 'ReadOnly, NoSuid' } }
        MountApiFeature    = @{ Object = (Get-MountApiSupport -Feature MoveMountBeneath); Names = @{ Feature = 'MoveMountBeneath' } }
        MountEvent         = @{ Object = $event; Names = @{ Kind = 'Attached' } }
    }
    $script:xml = Join-Path $tree.Root 'objects.xml'
}

AfterAll {
    Invoke-Cleanup { if ($script:staged) { $staged.Dispose() } }, { if ($script:named) { $named.Dispose() } }, { if ($script:ct) { $ct.Dispose() } },
        { Stop-RuncContainer $script:runc }, { Remove-ContainerFixture $script:fixture }
}

Describe '<_> through JSON and CliXml' -Tag Privileged -ForEach @('ContainerNamespace', 'StagedMount', 'AttachedMount', 'Mount', 'MountApiFeature', 'MountEvent') {
    BeforeAll {
        $script:sample = $samples[$_]
    }

    It 'shows PowerShell no enum, only names' {
        $sample.Object.PSObject.Properties | Where-Object { $_.Value -is [enum] } | ForEach-Object Name | Should -BeNullOrEmpty
        foreach ($name in $sample.Names.Keys) { $sample.Object.$name | Should -BeExactly $sample.Names[$name] -Because "property $name" }
    }

    It 'writes the names to JSON, without -EnumsAsStrings' {
        $back = $sample.Object | ConvertTo-Json -Depth 1 -WarningAction SilentlyContinue | ConvertFrom-Json
        foreach ($name in $sample.Names.Keys) { $back.$name | Should -BeExactly $sample.Names[$name] -Because "property $name" }
    }

    It 'reads the names back from Import-Clixml, and Where-Object matches them' {
        $sample.Object | Export-Clixml -LiteralPath $xml
        $back = Import-Clixml -LiteralPath $xml
        foreach ($name in $sample.Names.Keys) {
            $back.$name | Should -BeOfType [string] -Because "property $name"
            $back.$name | Should -BeExactly $sample.Names[$name] -Because "property $name"
            @($back | Where-Object $name -EQ $sample.Names[$name]) | Should -HaveCount 1 -Because "Where-Object $name -eq '$($sample.Names[$name])'"
        }
    }
}

Describe 'The usual filters after a round trip' -Tag Privileged {
    It 'Where-Object Propagation -eq Shared finds the shared mounts of an imported Get-Mount table' {
        Get-Mount -Namespace $ct | Export-Clixml -LiteralPath $xml
        $shared = Import-Clixml -LiteralPath $xml | Where-Object Propagation -EQ Shared
        $shared.MountPoint | Should -Contain '/mnt/i13s'
        @($shared).Count | Should -Be @(Get-Mount -Namespace $ct | Where-Object Propagation -EQ Shared).Count
    }

    It 'Where-Object State -eq Attached finds an attached mount that came back from JSON' {
        $back = $attached, $staged | ConvertTo-Json -Depth 1 -WarningAction SilentlyContinue | ConvertFrom-Json
        ($back | Where-Object State -EQ Attached).Target | Should -Be '/mnt/i13s'
    }

    It 'typed values stay with C#: a Mount gives its MountEntry, a StagedMount its state' {
        $mount = Get-Mount -Namespace $ct -Path /mnt/i13s
        $mount.ToEntry().Propagation | Should -BeOfType [MountHotplug.PropagationState]
        $attached.GetState() | Should -Be ([MountHotplug.StagedMountState]::Attached)
        $named.GetRuntime() | Should -Be ([MountHotplug.ContainerRuntime]::Runc)
    }
}
