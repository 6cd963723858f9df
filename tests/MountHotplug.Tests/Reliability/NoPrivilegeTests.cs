using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// Every cmdlet, run through mhp by nobody (uid 65534) and by root stripped of every capability, stops with the
/// PermissionDenied error NoCapSysAdmin: no crash, no raw exception, exit code 1 — except the three that only read the
/// caller's own mount table or probe the kernel, which must work.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class NoPrivilegeTests(ITestOutputHelper output)
{
    // One invocation per exported cmdlet; the test fails when a cmdlet is exported without one here.
    private static readonly Dictionary<string, string> Invocations = new()
    {
        ["New-StagedMount"] = "New-StagedMount -Path /tmp -ReadOnly",
        ["Get-ContainerNamespace"] = "Get-ContainerNamespace -ProcessId 1",
        ["Move-MountIntoNamespace"] = "$ns = [MountHotplug.ContainerNamespace]::Open($PID); @() | Move-MountIntoNamespace -Target /mnt/x -Namespace $ns -CreateTarget",
        ["Set-MountGroup"] = "Set-MountGroup -Source / -Target /tmp",
        ["Remove-Mount"] = "Remove-Mount -Path /mnt/x -Namespace $null -Confirm:$false",
        ["Set-MountAttribute"] = "Set-MountAttribute -Path /tmp -ReadOnly:$true",
        ["Restore-MountTopology"] = "'{}' | Restore-MountTopology -Destination /tmp",
        ["Get-StagedMount"] = "Get-StagedMount",
        ["Remove-StagedMount"] = "Remove-StagedMount -Name x",
        ["Watch-Mount"] = "$ns = [MountHotplug.ContainerNamespace]::Open($PID); Watch-Mount -Namespace $ns -Timeout 1",
        ["Sync-ContainerMount"] = "$ns = [MountHotplug.ContainerNamespace]::Open($PID); Sync-ContainerMount -Namespace $ns -Mount @{ Path = '/tmp'; Target = '/mnt/x' }",

        // Reading one's own mount table and probing the kernel need no privilege: these must simply work.
        ["Get-Mount"] = "Get-Mount -Path /",
        ["Get-MountApiSupport"] = "Get-MountApiSupport",
        ["Export-MountTopology"] = "Export-MountTopology -Path /proc",
    };

    private static readonly HashSet<string> WorksWithoutPrivilege = ["Get-Mount", "Get-MountApiSupport", "Export-MountTopology"];

    private static readonly Dictionary<string, string[]> Identities = new()
    {
        ["uid 65534"] = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--"],
        ["root without capabilities"] = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"],
    };

    [SkippableFact]
    public void EveryCmdletRunWithoutPrivilegeStopsWithPermissionDenied()
    {
        using var scenario = Scenario.Start(containers: []);
        var ps = scenario.Session;
        var exported = ps.Run("(Get-Command -Module MountHotplug -CommandType Cmdlet).Name").Output.Select(o => o.ToString()).Order().ToList();
        Assert.Equal(exported, Invocations.Keys.Order().ToList());

        // Neither the worktree nor root's NuGet cache, where the pinned pwsh lives, need be readable by nobody: run copies of
        // the staged module and of pwsh from a directory that is. pwsh runs as `dotnet pwsh.dll`, as the copy has no x bits.
        bool nobodysHome = Path.Exists("/nonexistent");
        string copy = Directory.CreateTempSubdirectory("mhp-noprivilege-").FullName;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                CopyReadableByAll(Path.Combine(Mhp.RepositoryRoot, "module"), copy);
                CopyReadableByAll(Path.GetDirectoryName(Mhp.Pwsh)!, Directory.CreateDirectory(Path.Combine(copy, "pwsh")).FullName);
            }

            var runs = Identities.SelectMany(identity => Invocations.Select(invocation => (Identity: identity, Cmdlet: invocation.Key, Script: invocation.Value))).ToList();
            var results = new ExecResult[runs.Count];
            var stopwatch = Stopwatch.StartNew();
            Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 },
                i => results[i] = Run(runs[i].Identity.Value, copy, runs[i].Script));

            for (int i = 0; i < runs.Count; i++)
            {
                (var identity, string cmdlet, _) = runs[i];
                ExecResult run = results[i];
                string all = run.StandardOutput + run.StandardError;
                string context = $"{cmdlet} as {identity.Key}: exit {run.ExitCode}\n{all}";
                Assert.DoesNotContain("Unhandled exception", all);
                if (WorksWithoutPrivilege.Contains(cmdlet))
                {
                    Assert.True(run.ExitCode == 0 && run.StandardError.Length == 0, context);
                    continue;
                }

                Assert.True(run.ExitCode == 1, context); // 1: an error was written; a crash is 134 (abort) or 139 (segfault)
                Assert.Contains($"NoCapSysAdmin,MountHotplug.{cmdlet.Replace("-", string.Empty)}Command", all);
                Assert.Contains("PermissionDenied", all);
                Assert.Contains("CAP_SYS_ADMIN", all);
                Assert.DoesNotContain("   at ", all); // no stack trace
            }

            Assert.True(nobodysHome == Path.Exists("/nonexistent"), "a run wrote outside its home");
            output.WriteLine($"{runs.Count} runs ({Invocations.Count} cmdlets x {Identities.Count} identities) in {stopwatch.Elapsed.TotalSeconds:0.0} s: {Invocations.Count - WorksWithoutPrivilege.Count} cmdlets exit 1 with NoCapSysAdmin (PermissionDenied), {WorksWithoutPrivilege.Count} read-only ones work");
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [SkippableFact]
    public void NobodyReallyLacksTheCapability()
    {
        // The test above cannot pass by accident: the same setpriv line gives a process without CAP_SYS_ADMIN
        // (CapEff is all zero), and as uid 65534.
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        foreach (var (name, prefix) in Identities)
        {
            string text = ChildProcess.Run([.. prefix, "sh", "-c", "id -u; grep CapEff /proc/self/status"]).StandardOutput;
            Assert.Contains("CapEff:\t0000000000000000", text);
            Assert.StartsWith(name == "uid 65534" ? "65534" : "0", text);
        }
    }

    private static ExecResult Run(string[] prefix, string copy, string script)
    {
        // What ./mhp -c runs, plus NormalView: pwsh's default ConciseView leaves out the error id and category checked here.
        string command = $"Import-Module '{Path.Combine(copy, "MountHotplug", "MountHotplug.psd1")}'; $ErrorView = 'NormalView'; {script}";

        // Not nobody's /nonexistent: root without capabilities still owns / and the engine would create it there.
        return ChildProcess.Run([.. prefix, "dotnet", Path.Combine(copy, "pwsh", "pwsh.dll"), "-NoProfile", "-Command", command], TimeSpan.FromSeconds(120),
            environment: new Dictionary<string, string> { ["HOME"] = copy }, workingDirectory: "/");
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void CopyReadableByAll(string from, string to)
    {
        const UnixFileMode dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(to, dir);
        foreach (string directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, directory));
            Directory.CreateDirectory(target);
            File.SetUnixFileMode(target, dir);
        }

        foreach (string source in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, source));
            File.Copy(source, target);
            File.SetUnixFileMode(target, file);
        }
    }
}
