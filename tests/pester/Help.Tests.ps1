# Get-Help as a user runs it in pwsh: the MAML and about topic the build compiles from docs/.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot '../../module/MountHotplug/MountHotplug.psd1')
    $script:cmdlets = (Get-Command -Module MountHotplug -CommandType Cmdlet).Name | ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
}

Describe 'Get-Help <Name>' -ForEach $cmdlets {
    It '-Full has a synopsis, a description, every parameter described and at least two examples' {
        $help = Get-Help $Name -Full
        $help.Synopsis.Trim() | Should -Not -BeNullOrEmpty
        $help.Synopsis.Trim() | Should -Not -Be $Name
        ($help.description.Text -join ' ') | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        $declared = (Get-Command $Name).Parameters.Keys |
            Where-Object { $_ -notin [Management.Automation.Cmdlet]::CommonParameters -and $_ -notin [Management.Automation.Cmdlet]::OptionalCommonParameters }
        foreach ($parameter in $declared) {
            ((Get-Help $Name -Parameter $parameter).description.Text -join ' ') | Should -Not -BeNullOrEmpty -Because "-$parameter of $Name needs a description"
        }
        $text = $help | Out-String -Width 120
        $text | Should -Match 'SYNTAX'
        $text | Should -Match "$Name "
    }

    It '-Examples shows code that calls the cmdlet' {
        $examples = Get-Help $Name -Examples
        @($examples.examples.example).Count | Should -BeGreaterOrEqual 2
        ($examples.examples.example.code -join "`n") | Should -Match ([regex]::Escape($Name))
        ($examples | Out-String -Width 120) | Should -Match 'Example 1'
    }
}

Describe 'about_MountHotplug' {
    It 'is found by Get-Help and covers the model, the errors and the security of hot-plugging' {
        $topic = Get-Help about_MountHotplug | Out-String
        $topic | Should -Match 'about_MountHotplug'
        $topic | Should -Match 'RESOLVE_IN_ROOT'
        $topic.Length | Should -BeGreaterThan 2000
        (Get-Help about_Mount* | Where-Object Name -EQ 'about_MountHotplug') | Should -Not -BeNullOrEmpty
    }
}
