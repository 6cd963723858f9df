<#
.SYNOPSIS
    Runs tests/pester/*.Tests.ps1 with Pester 6.2.0 in this (pinned) pwsh against module/MountHotplug; tests/run.sh
    calls it inside its private mount namespace, after the xunit suite.
.DESCRIPTION
    Writes the NUnit XML report to -ResultDirectory and, last on stdout, one line "Pester: N passed, N failed,
    N skipped" that tests/run.sh adds to the xunit counts; a failed BeforeAll/AfterAll (such as a mount-table check)
    counts as a failure. The failed tests' names and messages go to -FailureFile, for tests/run.sh to repeat after its
    summary. Exits 1 when anything failed.
#>
param(
    [Parameter(Mandatory)] [string] $PesterManifest,
    [Parameter(Mandatory)] [string] $ResultDirectory,
    [Parameter(Mandatory)] [string] $FailureFile,
    # One or more test files; by default every *.Tests.ps1 here.
    [string[]] $Path = @($PSScriptRoot)
)

$ErrorActionPreference = 'Stop'
Import-Module $PesterManifest -RequiredVersion 6.2.0

$configuration = New-PesterConfiguration
$configuration.Run.Path = $Path
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
# CI keeps a log, not a terminal: no colour codes in it.
if ([Console]::IsOutputRedirected) { $configuration.Output.RenderMode = 'Plaintext' }
# As in the xunit suite: without root, the tests that start containers are skipped (a failure in CI), not failed.
if (-not [Environment]::IsPrivilegedProcess) { $configuration.Filter.ExcludeTag = 'Privileged' }
$configuration.TestResult.Enabled = $true
$configuration.TestResult.OutputFormat = 'NUnitXml'
$configuration.TestResult.OutputPath = Join-Path ([IO.Directory]::CreateDirectory($ResultDirectory).FullName) 'pester.xml'
# Pester itself can break (not a test): it then writes an error and returns nothing, or throws. Either is one failure
# in the counts, with its message where run.sh repeats the failures.
$result = $null
try {
    $result = Invoke-Pester -Configuration $configuration -ErrorVariable pesterErrors
}
catch {
    $pesterErrors = @($_)
}
if ($null -eq $result) {
    Set-Content -LiteralPath $FailureFile -Value "  Invoke-Pester failed: $(($pesterErrors | ForEach-Object { "$_`n$($_.ScriptStackTrace)" }) -join "`n")"
    'Pester: 0 passed, 1 failed, 0 skipped'
    exit 1
}

$failures = [Collections.Generic.List[string]]::new()
foreach ($test in $result.Failed) {
    $failures.Add("  Failed $($test.ExpandedPath)`n    $(($test.ErrorRecord | ForEach-Object { $_.ToString() }) -join "`n    ")")
}
foreach ($block in @($result.FailedBlocks) + @($result.FailedContainers)) {
    if ($null -eq $block) { continue }
    $name = if ($block.PSObject.Properties['ExpandedPath']) { $block.ExpandedPath } else { $block.Item }
    $failures.Add("  Failed (setup or teardown) $name`n    $(($block.ErrorRecord | ForEach-Object { $_.ToString() }) -join "`n    ")")
}
Set-Content -LiteralPath $FailureFile -Value ($failures -join "`n")

$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
$skipped = $result.SkippedCount + $result.NotRunCount + $result.InconclusiveCount
"Pester: $($result.PassedCount) passed, $failed failed, $skipped skipped"
exit $(if ($failed -eq 0 -and $result.Result -eq 'Passed') { 0 } else { 1 })
