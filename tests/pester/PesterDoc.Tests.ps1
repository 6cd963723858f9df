# docs/pester.md's code block IS the test: extracted as it stands and run with Pester 6.2.0 in a fresh pwsh, where
# `Import-Module MountHotplug` finds this build by name (as ./mhp arranges). The doc and the test cannot drift apart.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'MhpTest.psm1') -Force
    $script:doc = Get-Content -LiteralPath (Join-Path (Get-Repository) 'docs/pester.md') -Raw
    $script:blocks = [regex]::Matches($doc, '(?ms)^```powershell\r?\n(.*?)^```')
    # The block finds the runbook at $PSScriptRoot/../examples, as from a folder beside examples/.
    $script:work = [IO.Directory]::CreateTempSubdirectory('mhp-pesterdoc-').FullName
    [void] (New-Item -ItemType SymbolicLink -Path (Join-Path $work 'examples') -Target (Join-Path (Get-Repository) 'examples'))
    $script:testFile = Join-Path ([IO.Directory]::CreateDirectory((Join-Path $work 'tests')).FullName) 'Add-ReadOnlyDataset.Tests.ps1'
}

AfterAll {
    if ($script:work) { Remove-Item -LiteralPath $work -Recurse -Force }
}

Describe 'docs/pester.md' {
    It 'has one PowerShell code block, a Pester file of three tests of examples/Add-ReadOnlyDataset.ps1' {
        $blocks.Count | Should -Be 1
        [regex]::Matches($blocks[0].Groups[1].Value, "(?m)^\s*It '").Count | Should -Be 3
        $blocks[0].Groups[1].Value | Should -Match ([regex]::Escape("'../examples/Add-ReadOnlyDataset.ps1'"))
    }

    It 'passes verbatim with Pester 6.2.0: all three of its tests' {
        Set-Content -LiteralPath $testFile -Value $blocks[0].Groups[1].Value -NoNewline
        $pester = (Get-Module Pester).Path -replace '\.psm1$', '.psd1'
        $script = @"
Import-Module '$pester' -RequiredVersion 6.2.0
`$r = Invoke-Pester -Path '$testFile' -PassThru -Output Detailed
"RESULT `$(`$r.PassedCount) `$(`$r.FailedCount) `$(`$r.SkippedCount + `$r.NotRunCount) `$(`$r.FailedBlocksCount + `$r.FailedContainersCount)"
"@
        $run = Invoke-Child -FilePath (Get-PwshPath) -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $script `
            -Environment @{ PSModulePath = "$(Join-Path (Get-Repository) 'module'):$env:PSModulePath" }
        $run.StandardOutput | Should -Match '(?m)^RESULT 3 0 0 0\s*$' -Because ($run.StandardOutput + $run.StandardError)
        $run.StandardOutput | Should -Match 'Running tests from .*Add-ReadOnlyDataset\.Tests\.ps1'
    }
}
