# Shared by the Pester suite: where things are, the sandbox containers, child pwsh processes and the mount-table
# checks. Imported by each test file's BeforeAll (Pester runs every file in its own scope); importing it also imports
# the module under test, module/MountHotplug, into the session.
Set-StrictMode -Version Latest

$script:Repository = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-Repository { $script:Repository }

function Get-ModuleManifestPath { Join-Path $script:Repository 'module/MountHotplug/MountHotplug.psd1' }

# The pwsh running this suite: tests/run.sh starts it from the pinned tool.
function Get-PwshPath { Join-Path $PSHOME 'pwsh' }

function Test-Root { [Environment]::IsPrivilegedProcess }

<#
.SYNOPSIS
    Starts a throwaway busybox container with the same code the xunit suite and the demo use (module/sandbox).
    The caller disposes it (AfterAll/AfterEach); a container the caller lost is still stopped when pwsh exits.
#>
function Start-Sandbox {
    param([ValidateSet('PivotRoot', 'Chroot')] [string] $Kind = 'PivotRoot')
    Import-SandboxAssembly
    [MountHotplug.Sandbox.SandboxContainer]::Start($Kind)
}

function Import-SandboxAssembly {
    if (-not ('MountHotplug.Sandbox.SandboxContainer' -as [type])) {
        Add-Type -Path (Join-Path $script:Repository 'module/sandbox/MountHotplug.Sandbox.dll')
    }
}

<#
.SYNOPSIS
    A runc container from an OCI bundle with the sandbox's busybox rootfs, as the runtime tests start one, with a user
    namespace of its own (what -IdMap maps through): the runtimes list it, which they do not the sandbox containers. Stop
    it with Stop-RuncContainer in AfterAll.
#>
function Start-RuncContainer([string] $Name) {
    Import-SandboxAssembly
    $bundle = [IO.Directory]::CreateTempSubdirectory('mhp-pester-runc-').FullName
    $result = [pscustomobject]@{ Name = $Name; Bundle = $bundle; Pid = 0 }
    try {
        # The container's root (uid 100000 on the host) must reach its rootfs; a temporary directory is mode 700.
        & chmod 755 $bundle
        & cp -a -- ([MountHotplug.Sandbox.Busybox]::TemplateRootfs) (Join-Path $bundle 'rootfs')
        & chown -R -h 100000:100000 (Join-Path $bundle 'rootfs')
        & sh -c 'cd "$1" && crun spec' mhp-spec $bundle
        $spec = Get-Content -Raw -LiteralPath (Join-Path $bundle 'config.json') | ConvertFrom-Json -AsHashtable
        $spec.process.terminal = $false
        $spec.process.args = @('/sbin/testinit')
        $spec.root = @{ path = 'rootfs'; readonly = $false }
        $spec.linux.namespaces += @{ type = 'user' }
        $spec.linux.uidMappings = @(@{ containerID = 0; hostID = 100000; size = 65536 })
        $spec.linux.gidMappings = @(@{ containerID = 0; hostID = 100000; size = 65536 })
        $spec | ConvertTo-Json -Depth 20 | Set-Content -LiteralPath (Join-Path $bundle 'config.json')
        & sh -c 'exec runc run -d --bundle "$1" "$2" </dev/null >"$3" 2>&1' mhp-runc $bundle $Name (Join-Path $bundle 'run.log')
        if ($LASTEXITCODE -ne 0) { throw "runc run $Name failed: $(Get-Content -Raw -LiteralPath (Join-Path $bundle 'run.log'))" }
        $result.Pid = (& runc state $Name | ConvertFrom-Json).pid
        $result
    }
    catch { Stop-RuncContainer $result; throw }
}

<# .SYNOPSIS Deletes a container of Start-RuncContainer, its bundle and the cgroups runc left. #>
function Stop-RuncContainer($Container) {
    if (-not $Container) { return }
    & runc delete -f $Container.Name 2>$null
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while ($Container.Pid -and (Test-Path -LiteralPath "/proc/$($Container.Pid)")) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "runc container $($Container.Name) (PID $($Container.Pid)) did not end within 30 s" }
        Start-Sleep -Milliseconds 20
    }
    Remove-Item -LiteralPath $Container.Bundle -Recurse -Force -ErrorAction SilentlyContinue
    # runc's cgroups, one per hierarchy, if it left any.
    foreach ($hierarchy in @('/sys/fs/cgroup') + @(Get-ChildItem -Directory -LiteralPath /sys/fs/cgroup -ErrorAction SilentlyContinue).FullName) {
        $dir = Join-Path $hierarchy $Container.Name
        if (Test-Path -LiteralPath $dir) {
            @(Get-ChildItem -Directory -Recurse -LiteralPath $dir).FullName + $dir | Sort-Object Length -Descending |
                ForEach-Object { [IO.Directory]::Delete($_) }
        }
    }
}

<#
.SYNOPSIS
    A MountEvent as Watch-Mount writes it, made with Watch-Mount's own constructor from a MountWatchEvent, for tests of
    how the object shows and serializes that need no mount event from the kernel.
#>
function New-MountEvent {
    param([Parameter(Mandatory)] [MountHotplug.MountWatchEvent] $WatchEvent, [Parameter(Mandatory)] $Namespace)
    # The constructor is public for embedders of the core library (what Watch-Mount itself calls).
    [MountHotplug.MountEvent]::new($WatchEvent, $Namespace.PSObject.BaseObject)
}

<# .SYNOPSIS A temporary host directory with data/hello.txt, as the runbooks and the demo plug in. #>
function New-TestTree {
    param([string] $Content = "hello from the host`n")
    $root = [IO.Directory]::CreateTempSubdirectory('mhp-pester-').FullName
    $data = [IO.Directory]::CreateDirectory((Join-Path $root 'data')).FullName
    [IO.File]::WriteAllText((Join-Path $data 'hello.txt'), $Content)
    [pscustomobject]@{ Root = $root; Data = $data; Content = $Content }
}

function Remove-TestTree($Tree) {
    if ($Tree -and (Test-Path -LiteralPath $Tree.Root)) { Remove-Item -LiteralPath $Tree.Root -Recurse -Force }
}

<#
.SYNOPSIS
    The mount tables a test file must leave as it found them: the host's (PID 1) and this process's own namespace
    (the private one tests/run.sh made). Compare a later call's result with Should -Be.
#>
function Get-MountTables {
    [IO.File]::ReadAllText('/proc/1/mountinfo') + "`n--- own namespace ---`n" + [IO.File]::ReadAllText('/proc/self/mountinfo')
}

<#
.SYNOPSIS
    What a privileged test file starts with: the mount tables to compare at the end, a host tree and a sandbox
    container. Pass it to Remove-ContainerFixture in AfterAll, which also runs when a test failed.
#>
function New-ContainerFixture {
    $fixture = [pscustomobject]@{ TablesBefore = Get-MountTables; Tree = New-TestTree; Container = $null }
    try { $fixture.Container = Start-Sandbox }
    catch { Remove-TestTree $fixture.Tree; throw }
    $fixture
}

<# .SYNOPSIS Stops the fixture's container, removes its tree, then checks that the mount tables are as they were. #>
function Remove-ContainerFixture($Fixture) {
    if (-not $Fixture) { return }
    try { if ($Fixture.Container) { $Fixture.Container.Dispose() } }
    finally { Remove-TestTree $Fixture.Tree }
    Get-MountTables | Should -Be $Fixture.TablesBefore -Because 'a test file must leave the host and its own mount tables as it found them'
}

<#
.SYNOPSIS
    Runs every clean-up step of an AfterAll even when one fails (a failed step must not leave a container, an sshd or
    a directory behind), then rethrows the first failure so that Pester reports it.
#>
function Invoke-Cleanup {
    param([Parameter(Mandatory)] [scriptblock[]] $Step)
    $failures = @(foreach ($each in $Step) { try { & $each } catch { $_ } })
    if ($failures.Count -gt 0) { throw $failures[0] }
}

<# .SYNOPSIS What the container's own mountinfo says about one mount point (null when nothing is mounted there). #>
function Get-ContainerMountLine($Container, [string] $MountPoint) {
    $Container.Exec('cat', '/proc/self/mountinfo').StandardOutput -split "`n" |
        Where-Object { $_ -and ($_ -split ' ')[4] -eq $MountPoint } | Select-Object -Last 1
}

<#
.SYNOPSIS
    Runs a child process (pwsh, ./mhp) with stdin closed and returns its exit code and both output streams, so a test
    sees what a user sees in a log, rendered by pwsh itself.
#>
function Invoke-Child {
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [hashtable] $Environment = @{},
        [string] $StandardInput
    )
    $info = [Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($argument in $ArgumentList) { $info.ArgumentList.Add($argument) }
    # pwsh writes colour codes even into a pipe unless NO_COLOR is set, as a user's log would want it.
    $info.Environment['NO_COLOR'] = '1'
    foreach ($name in $Environment.Keys) {
        # $null removes a variable, for a child that must compute it afresh (PSModulePath from its own HOME).
        if ($null -eq $Environment[$name]) { [void] $info.Environment.Remove($name) } else { $info.Environment[$name] = $Environment[$name] }
    }
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.RedirectStandardInput = $true
    $info.UseShellExecute = $false
    $info.WorkingDirectory = $script:Repository
    $process = [Diagnostics.Process]::Start($info)
    try {
        if ($StandardInput) { $process.StandardInput.Write($StandardInput) }
        $process.StandardInput.Close()
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit(300000)) {
            $process.Kill($true)
            throw "$FilePath $($ArgumentList -join ' ') did not finish in 300 s"
        }
        $process.WaitForExit()
        [pscustomobject]@{ ExitCode = $process.ExitCode; StandardOutput = $stdout.Result; StandardError = $stderr.Result }
    }
    finally {
        $process.Dispose()
    }
}

<# .SYNOPSIS Runs ./mhp with the given arguments. #>
function Invoke-Mhp {
    param([string[]] $ArgumentList = @(), [string] $StandardInput, [hashtable] $Environment = @{})
    Invoke-Child -FilePath (Join-Path $script:Repository 'mhp') -ArgumentList $ArgumentList -StandardInput $StandardInput -Environment $Environment
}

<# .SYNOPSIS Runs a script in a fresh pinned pwsh with the module imported from module/MountHotplug. #>
function Invoke-FreshPwsh {
    param([Parameter(Mandatory)] [string] $Script, [hashtable] $Environment = @{})
    $import = "Import-Module '$((Get-ModuleManifestPath).Replace("'", "''"))'; "
    Invoke-Child -FilePath (Get-PwshPath) -ArgumentList @('-NoProfile', '-NonInteractive', '-Command', $import + $Script) -Environment $Environment
}

<#
.SYNOPSIS
    Starts a throwaway sshd on a free port of 127.0.0.1 that serves the pinned pwsh as its powershell subsystem, with
    its own host key and one client key for root, all in -Directory. Stop it with Stop-TestSshd (in AfterAll).
#>
function Start-TestSshd {
    param([Parameter(Mandatory)] [string] $Directory)
    $sshd = '/usr/sbin/sshd'
    if (-not (Test-Path -LiteralPath $sshd)) { throw "$sshd is missing: install openssh-server (tests/run.sh does)." }
    # sshd's privilege separation directory; Debian's service would make it.
    [void] [IO.Directory]::CreateDirectory('/run/sshd')
    foreach ($key in 'host_key', 'client_key') {
        & ssh-keygen -q -t ed25519 -N '' -C "mhp-test-$key" -f (Join-Path $Directory $key)
        if ($LASTEXITCODE -ne 0) { throw "ssh-keygen for $key failed with exit code $LASTEXITCODE" }
    }
    Copy-Item -LiteralPath (Join-Path $Directory 'client_key.pub') -Destination (Join-Path $Directory 'authorized_keys')

    # A port the kernel just handed out and took back: free unless something grabs it in between, which the wait
    # below would report as sshd exiting.
    $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $listener.Start()
    $port = $listener.LocalEndpoint.Port
    $listener.Stop()

    $config = Join-Path $Directory 'sshd_config'
    Set-Content -LiteralPath $config -Value @"
ListenAddress 127.0.0.1:$port
HostKey $(Join-Path $Directory 'host_key')
PidFile $(Join-Path $Directory 'sshd.pid')
AuthorizedKeysFile $(Join-Path $Directory 'authorized_keys')
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem powershell $(Get-PwshPath) -sshs -NoLogo -NoProfile
"@
    $info = [Diagnostics.ProcessStartInfo]::new($sshd)
    foreach ($argument in '-D', '-e', '-f', $config) { $info.ArgumentList.Add($argument) }
    $info.RedirectStandardError = $true
    # Not the runner's stdout: that is tests/run.sh's tee pipe, and an sshd left holding it (after the runner crashed) kept
    # run.sh waiting for its end.
    $info.RedirectStandardOutput = $true
    $info.UseShellExecute = $false
    $process = [Diagnostics.Process]::Start($info)
    $log = $process.StandardError.ReadToEndAsync()
    $null = $process.StandardOutput.ReadToEndAsync()
    $server = [pscustomobject]@{ Process = $process; Port = $port; KeyFile = (Join-Path $Directory 'client_key'); Log = $log }
    # Ready once it accepts a connection; a failed start shows in its log.
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while ($true) {
        if ($process.HasExited) { throw "sshd exited with code $($process.ExitCode): $($log.Result)" }
        $client = [Net.Sockets.TcpClient]::new()
        try { $client.Connect([Net.IPAddress]::Loopback, $port); break } catch { } finally { $client.Dispose() }
        if ([DateTime]::UtcNow -gt $deadline) { Stop-TestSshd $server; throw 'sshd did not accept connections within 30 s' }
        Start-Sleep -Milliseconds 50
    }
    $server
}

<# .SYNOPSIS Stops an sshd of Start-TestSshd and the session processes it forked. #>
function Stop-TestSshd($Server) {
    if (-not $Server -or $Server.Process.HasExited) { return }
    $Server.Process.Kill($true)
    $Server.Process.WaitForExit()
    $Server.Process.Dispose()
}

<# .SYNOPSIS The Invoke-Command / New-PSSession parameters that reach a Start-TestSshd server as root. #>
function Get-TestSshParameters($Server) {
    @{
        Port              = $Server.Port
        KeyFilePath       = $Server.KeyFile
        # A connection that never completes fails the test instead of hanging the run.
        ConnectingTimeout = 120000
        # A throwaway host key nobody has seen: trust it for this connection only.
        Options           = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' }
    }
}

Import-Module (Get-ModuleManifestPath) -Global
Export-ModuleMember -Function *
