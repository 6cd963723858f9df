using MountHotplug.Sandbox;
using MountHotplug.Staging;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// The stage for start-up hooks: a mount kept by one session and picked up by another process. The stage is a tmpfs in
/// this process's mount namespace (private, made by tests/run.sh's unshare); each test removes what it staged, which
/// unmounts the stage again, and HostGuard checks this process's own mount table is as before.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class StagingTests
{
    private const string New = "MountHotplug.NewStagedMountCommand";

    [SkippableFact]
    public void AMountStagedByOneSessionIsPickedUpByAnotherProcessAndRemoved()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);
        string name = "mhp-test-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var first = new PowerShellSession())
            {
                PipelineResult staged = first.Run("$m = New-StagedMount $src -ReadOnly -StageName $n -Verbose; $m.StageName; $m.State; $m.Dispose()",
                    new Dictionary<string, object?> { ["src"] = tree.Data, ["n"] = name });
                Assert.True(staged.Errors.Count == 0, staged.Describe());
                Assert.Equal(new object[] { name, "Staged" }, staged.Output.Select(o => o.BaseObject));
            }

            // The stage: a private, unbindable tmpfs; the kept mount in it read-only and private.
            IReadOnlyList<MountInfo> table = MountInfoParser.Read();
            MountInfo stage = Assert.Single(table, m => m.MountPoint == StageStore.DefaultRoot);
            Assert.Equal("tmpfs", stage.FileSystemType);
            Assert.Equal(PropagationState.Unbindable, stage.Propagation);
            MountInfo kept = Assert.Single(table, m => m.MountPoint == $"{StageStore.DefaultRoot}/{name}");
            Assert.True(kept.IsReadOnly);
            Assert.Equal(PropagationState.Private, kept.Propagation);

            // Another process (a hook, a runbook) clones it and plugs it into a running container, twice.
            for (int i = 1; i <= 2; i++)
            {
                ExecResult hook = Mhp.Run("-Command",
                    $"$ct = Get-ContainerNamespace {container.Pid}; Get-StagedMount -Name {name} | Move-MountIntoNamespace -Namespace $ct -Target /mnt/staged{i} -CreateTarget; $ct.Dispose(); if (-not $?) {{ exit 3 }}");
                Assert.True(hook.ExitCode == 0, hook.StandardError + hook.StandardOutput);
                Assert.Equal(tree.Content, container.ExecOrThrow("cat", $"/mnt/staged{i}/hello.txt"));
                Assert.True(ContainerView.MountAt(container, $"/mnt/staged{i}")!.IsReadOnly);
            }

            using var ps = new PowerShellSession();
            PipelineResult listed = ps.Run("Get-StagedMount | ForEach-Object { '{0}|{1}|{2}|{3}' -f $_.StageName, $_.Source, $_.Attributes, $_.State; $_.Dispose() }");
            Assert.Contains($"{name}|{tree.Data}|ro|Staged", listed.Output.Select(o => (string)o.BaseObject));

            PipelineResult removed = ps.Run("Get-StagedMount -Name $n | Remove-StagedMount -Verbose", new Dictionary<string, object?> { ["n"] = name });
            Assert.True(removed.Errors.Count == 0, removed.Describe());
            Assert.Contains(removed.Verbose, v => v.Message.Contains("(the stage is empty)"));
        }
        finally
        {
            Cleanup(new StageKey(null, name));
        }

        // The container keeps what was plugged into it; the stage itself is gone.
        Assert.Equal(tree.Content, container.ExecOrThrow("cat", "/mnt/staged1/hello.txt"));
        Assert.False(StageStore.IsMounted);
    }

    [SkippableFact]
    public void StageMistakesGetTheirOwnErrors()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        string name = "mhp-err-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var vars = new Dictionary<string, object?> { ["src"] = tree.Data, ["file"] = tree.SingleFile, ["n"] = name };
            Assert.True(ps.Run("(New-StagedMount $file -StageName $n).Dispose()", vars).Errors.Count == 0);
            PipelineResult again = ps.Run("New-StagedMount $src -StageName $n", vars);
            Assert.Equal(new[] { $"StageNameExists,{New}" }, again.ErrorIds);
            Assert.Equal(name, Assert.Single(again.Errors).TargetObject);
            Assert.Equal(new[] { $"InvalidStageName,{New}" }, ps.Run("New-StagedMount $src -StageName '../escape'", vars).ErrorIds);
            Assert.Equal(new[] { $"StageUnbindable,{New}" }, ps.Run("New-StagedMount $src -StageName x1 -Propagation Unbindable", vars).ErrorIds);
            Assert.Equal(new[] { "StagedMountNotFound,MountHotplug.GetStagedMountCommand" }, ps.Run("Get-StagedMount -Name mhp-missing", vars).ErrorIds);
            Assert.Equal(new[] { "StagedMountNotFound,MountHotplug.RemoveStagedMountCommand" }, ps.Run("Remove-StagedMount -Name mhp-missing", vars).ErrorIds);
            Assert.False(Path.Exists(Path.Combine(StageStore.DefaultRoot, "x1")));

            // A file is kept as a file, and -WhatIf removes nothing.
            PipelineResult file = ps.Run("$f = Get-StagedMount $n; $f.IsDirectory; $f.Dispose(); Remove-StagedMount $n -WhatIf", vars);
            Assert.Equal(false, file.Output.Single().BaseObject);
            Assert.True(File.Exists(Path.Combine(StageStore.DefaultRoot, name)));
            Assert.Contains($"What if: unmount the staged mount '{name}'", ps.HostOutput);
        }
        finally
        {
            Cleanup(new StageKey(null, name));
        }

        Assert.False(StageStore.IsMounted);
    }

    /// <summary>
    /// The attack of a name prefix: container "web"'s start hook used to take "web-*" (any case), which also matched
    /// "web-db-data", staged for container "web-db", and web's stop hook removed it. Mounts are now kept per container and
    /// a container's hook asks for its own by its exact name.
    /// </summary>
    [SkippableFact]
    public void AContainersHookGetsAndRemovesOnlyWhatWasStagedForThatContainer()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        TempTree secrets = scenario.NewTree("db-password=hunter2\n");
        string web = "web" + Guid.NewGuid().ToString("N")[..6];
        string webDb = web + "-db";
        var keys = new[] { new StageKey(web, "media"), new StageKey(webDb, "data"), new StageKey(null, web + "-db-data") };
        try
        {
            var vars = new Dictionary<string, object?> { ["src"] = tree.Data, ["secret"] = secrets.Data, ["web"] = web, ["webdb"] = webDb };
            PipelineResult staged = ps.Run(
                "New-StagedMount $secret -ReadOnly -StageName data -Container $webdb | ForEach-Object { $_.StageContainer; $_.Dispose() };"
                + "New-StagedMount $src -ReadOnly -StageName media -Container $web | ForEach-Object Dispose;"
                + "New-StagedMount $secret -StageName \"$webdb-data\" | ForEach-Object Dispose", vars);
            Assert.True(staged.Errors.Count == 0, staged.Describe());
            Assert.Equal(webDb, staged.Output.Single().BaseObject);

            // The documented start hook of container web: its own mounts, nothing of web-db's, whatever the case.
            PipelineResult hook = ps.Run("Get-StagedMount -Container $web | ForEach-Object { '{0}|{1}|{2}' -f $_.StageContainer, $_.StageName, $_.Source; $_.Dispose() }", vars);
            Assert.True(hook.Errors.Count == 0, hook.Describe());
            Assert.Equal(new[] { $"{web}|media|{tree.Data}" }, hook.Output.Select(o => (string)o.BaseObject));
            Assert.Empty(ps.Run("Get-StagedMount -Container $web.ToUpperInvariant() | ForEach-Object Dispose", vars).Output);
            Assert.Empty(ps.Run("Get-StagedMount -Container $webdb -Name D* | ForEach-Object { $_.StageName; $_.Dispose() }", vars).Output);
            Assert.Equal(new[] { "StagedMountNotFound,MountHotplug.GetStagedMountCommand" },
                ps.Run("Get-StagedMount -Container $web -Name data", vars).ErrorIds);

            // A name literal without -Container is one of the mounts kept for no container, and only that one.
            PipelineResult global = ps.Run("Get-StagedMount -Name \"$webdb-data\" | ForEach-Object { $_.StageContainer -eq $null; $_.Dispose() }", vars);
            Assert.Equal(new object[] { true }, global.Output.Select(o => o.BaseObject));

            // web's stop hook removes web's mounts, and nothing of web-db's; a pattern over containers says it wants more.
            PipelineResult stop = ps.Run("Remove-StagedMount -Container $web", vars);
            Assert.True(stop.Errors.Count == 0, stop.Describe());
            Assert.False(Path.Exists(StageStore.EntryPath(keys[0])));
            Assert.True(Path.Exists(StageStore.EntryPath(keys[1])));
            PipelineResult all = ps.Run("Get-StagedMount -Container * | ForEach-Object { $_.StageContainer + '/' + $_.StageName; $_.Dispose() }", vars);
            Assert.Equal(new[] { $"{webDb}/data" }, all.Output.Select(o => (string)o.BaseObject));

            Assert.Equal(new[] { "StageContainerWithoutName,MountHotplug.NewStagedMountCommand" }, ps.Run("New-StagedMount $src -Container $web", vars).ErrorIds);
            Assert.Equal(new[] { "InvalidStageName,MountHotplug.NewStagedMountCommand" }, ps.Run("New-StagedMount $src -StageName x -Container '../x'", vars).ErrorIds);
        }
        finally
        {
            Cleanup(keys);
        }

        Assert.False(StageStore.IsMounted);
    }

    /// <summary>
    /// A stage in another mount namespace (a service with a namespace of its own, a second test run) on the same directory
    /// empties and goes away: this namespace's stage must stay. Removing the directory would have detached it here too
    /// (a directory removed in one namespace takes the mounts on it in every namespace with it).
    /// </summary>
    [SkippableFact]
    public void AnotherNamespaceEmptyingItsOwnStageLeavesThisOneMounted()
    {
        using var scenario = Scenario.Start(containers: []);
        var (ps, tree) = (scenario.Session, scenario.Tree);
        var key = new StageKey(null, "mhp-keep-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Assert.True(ps.Run("New-StagedMount $src -StageName $n | ForEach-Object Dispose", new Dictionary<string, object?> { ["src"] = tree.Data, ["n"] = key.Name }).Errors.Count == 0);

            // The other namespace starts as a copy of this one: it drops the copied stage and makes, then empties, its own.
            ExecResult other = Mhp.RunInOwnMountNamespace($"umount -l {StageStore.DefaultRoot}", "-Command",
                $"New-StagedMount {tree.Data} -StageName other | ForEach-Object Dispose; Remove-StagedMount other -Verbose 4>&1; if (-not $?) {{ exit 3 }}");
            Assert.True(other.ExitCode == 0, other.StandardError + other.StandardOutput);
            Assert.Contains("(the stage is empty)", other.StandardOutput);

            Assert.True(StageStore.IsMounted);
            PipelineResult kept = ps.Run("Get-StagedMount $n | ForEach-Object { $_.Source; $_.Dispose() }", new Dictionary<string, object?> { ["n"] = key.Name });
            Assert.True(kept.Errors.Count == 0, kept.Describe());
            Assert.Equal(new object[] { tree.Data }, kept.Output.Select(o => o.BaseObject));
        }
        finally
        {
            Cleanup(key);
        }

        Assert.False(StageStore.IsMounted);
    }

    // Whatever the test got to, the stage goes: it must not stay mounted in this process's namespace.
    private static void Cleanup(params StageKey[] keys)
    {
        foreach (StageKey key in keys)
        {
            if (Path.Exists(StageStore.EntryPath(key)))
            {
                StageStore.Remove(key, null);
            }
        }
    }
}
