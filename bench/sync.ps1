<#
.SYNOPSIS
    Issue 16's figures for Sync-ContainerMount: a second run of 20 entries against a sandbox container changes nothing.
.DESCRIPTION
    Syncs 20 entries (two host directories, read-only on every third, nosuid and nodev on all) into a throwaway sandbox
    container, then runs the same Sync again and reports:
    - the system calls its -Verbose trace names, and how many of them change anything (move_mount, mount_setattr, umount,
      open_tree, unshare/setns, mkdirat, unlinkat, rename, fsopen/fsmount);
    - what strace, attached to this pwsh for the length of one second run, counts of the calls that change mounts or
      files (all threads of the process, so also the engine's own);
    - the time of the second run as a runbook calls it (no -Verbose, output discarded), median, best and worst of -Runs
      (and, for scale, the first run's, once).
    The container's mount table is compared before and after. Needs root and strace:
        unshare -m --propagation private ./mhp -File bench/sync.ps1 [-Runs 21]
#>
param([ValidateRange(3, 1000)] [int] $Runs = 21)

$ErrorActionPreference = 'Stop'
$repository = Split-Path -Parent $PSScriptRoot
Add-Type -Path (Join-Path $repository 'module/sandbox/MountHotplug.Sandbox.dll')
$container = [MountHotplug.Sandbox.SandboxContainer]::Start('PivotRoot')
$work = [IO.Directory]::CreateTempSubdirectory('mhp-bench-sync-').FullName
$ct = $null
try {
    $sources = foreach ($name in 'a', 'b') { [IO.Directory]::CreateDirectory((Join-Path $work $name)).FullName }
    $mounts = foreach ($i in 1..20) {
        @{ Path = $sources[$i % 2]; Target = "/srv/bench/$i"; ReadOnly = ($i % 3 -eq 0); NoSuid = $true; NoDev = $true }
    }
    $ct = Get-ContainerNamespace -ProcessId $container.Pid
    $firstClock = [Diagnostics.Stopwatch]::StartNew()
    $added = @(Sync-ContainerMount -Namespace $ct -Mount $mounts | Where-Object Action -eq Added).Count
    $firstClock.Stop()
    $table = [IO.File]::ReadAllText("/proc/$($container.Pid)/mountinfo")

    # The trace the module writes for each call it makes.
    $calls = @(Sync-ContainerMount -Namespace $ct -Mount $mounts -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] } | ForEach-Object Message)
    $changing = @($calls | Where-Object { $_ -match 'move_mount|mount_setattr|umount|open_tree|unshare|setns|mkdirat|unlinkat|unlink\(|rename|fsmount|fsopen' })

    # strace of the whole process for one second run (-c: counts per call; the engine's threads are in it too). Debian 12's
    # strace 6.1 does not know statmount and listmount (Linux 6.8) by name, so they are not in the list.
    $summary = Join-Path $work 'strace.txt'
    $watched = 'mount,umount2,move_mount,open_tree,mount_setattr,fsopen,fsconfig,fsmount,fspick,setns,unshare,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,fchown,fchownat,fchmod,fchmodat,statx,openat2,flock'
    $strace = Start-Process -FilePath strace -ArgumentList '-f', '-qq', '-c', '-e', "trace=$watched", '-o', $summary, '-p', $PID -PassThru
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while (-not ((Get-Content "/proc/$PID/status") -match '^TracerPid:\s+[1-9]') -and [DateTime]::UtcNow -lt $deadline) {
        if ($strace.HasExited) { throw "strace exited with code $($strace.ExitCode)" }
        Start-Sleep -Milliseconds 20
    }
    Start-Sleep -Milliseconds 300   # every thread attached
    $inSync = @(Sync-ContainerMount -Namespace $ct -Mount $mounts | Where-Object Action -eq InSync).Count
    Start-Sleep -Milliseconds 100
    & kill -INT $strace.Id
    $strace.WaitForExit()
    $counted = @{}
    foreach ($line in Get-Content $summary) {
        $fields = -split $line
        if ($fields.Count -ge 5 -and $fields[-1] -ne 'total' -and $fields[3] -match '^\d+$') { $counted[$fields[-1]] = [int] $fields[3] }
        elseif ($fields.Count -ge 4 -and $fields[-1] -ne 'total' -and $fields[-2] -match '^\d+$') { $counted[$fields[-1]] = [int] $fields[-2] }
    }
    $mountCalls = 'mount', 'umount2', 'move_mount', 'open_tree', 'mount_setattr', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'setns', 'unshare'
    $fileCalls = 'mkdir', 'mkdirat', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'fchown', 'fchownat', 'fchmod', 'fchmodat'
    $straceChanging = ($mountCalls + $fileCalls | ForEach-Object { $counted[$_] } | Measure-Object -Sum).Sum

    $times = foreach ($run in 1..$Runs) {
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Sync-ContainerMount -Namespace $ct -Mount $mounts | Out-Null
        $clock.Stop()
        $clock.Elapsed.TotalMilliseconds
    }
    $sorted = $times | Sort-Object
    $unchanged = [IO.File]::ReadAllText("/proc/$($container.Pid)/mountinfo") -eq $table

    "First run: $added of 20 entries Added, in {0:F2} ms (the session's first Sync: it includes JIT)." -f $firstClock.Elapsed.TotalMilliseconds
    "Second run: $inSync of 20 InSync; -Verbose names $($calls.Count) calls, $($changing.Count) of which change anything."
    "strace over one second run (whole process): " + (($counted.GetEnumerator() | Sort-Object Name | ForEach-Object { "$($_.Name) $($_.Value)" }) -join ', ')
    "  mount- or file-changing calls: $([int] $straceChanging)"
    "Second run time over $Runs runs: median {0:F2} ms, best {1:F2} ms, worst {2:F2} ms" -f $sorted[[int][Math]::Floor($Runs / 2)], $sorted[0], $sorted[-1]
    "Container mount table unchanged by the second runs: $unchanged"
}
finally {
    if ($ct) { Sync-ContainerMount -Namespace $ct -Mount @() -Prune | Out-Null; $ct.Dispose() }
    $container.Dispose()
    Remove-Item -LiteralPath $work -Recurse -Force
}
