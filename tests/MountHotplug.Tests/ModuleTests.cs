using System.Management.Automation;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>The module as PowerShell sees it: manifest, exports, help. No privilege needed.</summary>
public sealed class ModuleTests
{
    private static readonly string[] Cmdlets =
    {
        "Export-MountTopology", "Get-ContainerNamespace", "Get-Mount", "Get-MountApiSupport", "Get-StagedMount", "Move-MountIntoNamespace",
        "New-StagedMount", "Remove-Mount", "Remove-StagedMount", "Restore-MountTopology", "Set-MountAttribute", "Set-MountGroup",
        "Sync-ContainerMount", "Watch-Mount",
    };

    [Fact]
    public void ManifestIsValidAndExportsExactlyTheCmdlets()
    {
        using var ps = new PowerShellSession();
        PipelineResult result = ps.Run("$m = Test-ModuleManifest -Path $path; $m.Version.ToString(); $m.PowerShellVersion.ToString(); ($m.CompatiblePSEditions -join ','); ($m.Tags -contains 'Linux'); (Get-Command -Module MountHotplug | ForEach-Object Name) -join ','",
            new Dictionary<string, object?> { ["path"] = PowerShellSession.ModuleManifestPath });

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Equal(new object[] { "0.1.0", "7.4", "Core", true, string.Join(",", Cmdlets) }, result.Output.Select(o => o.BaseObject));
    }

    [Fact]
    public void TheHostedEngineHasTheStandardCmdletsUsersPipeInto()
    {
        // Microsoft.PowerShell.SDK brings Utility and Management: what a user's pipeline around the cmdlets needs.
        using var ps = new PowerShellSession();
        PipelineResult result = ps.Run(
            "Get-MountApiSupport | Select-Object -First 2 -Property Feature, Supported | ConvertTo-Json -Compress -EnumsAsStrings; " +
            "(Get-ChildItem -LiteralPath $PSHOME -Filter *.dll | Measure-Object).Count -gt 0; " +
            "(Get-Mount -Path / | Format-List -Property MountPoint | Out-String).Trim()");

        Assert.True(result.Errors.Count == 0, result.Describe());
        Assert.Matches("""^\[\{"Feature":"[A-Za-z]+","Supported":(true|false|null)\},\{"Feature":"[A-Za-z]+","Supported":(true|false|null)\}\]$""", (string)result.Output[0].BaseObject);
        Assert.Equal(true, result.Output[1].BaseObject);
        Assert.Equal("MountPoint : /", (string)result.Output[2].BaseObject);
    }

    [Fact]
    public void EveryCmdletHasFullHelp()
    {
        using var ps = new PowerShellSession();
        foreach (string cmdlet in Cmdlets)
        {
            PipelineResult result = ps.Run($"Get-Help {cmdlet} -Full");
            PSObject help = Assert.Single(result.Output);
            dynamic h = help;
            Assert.False(string.IsNullOrWhiteSpace((string)h.Synopsis), cmdlet);
            Assert.NotEqual(cmdlet, ((string)h.Synopsis).Trim());
            Assert.False(string.IsNullOrWhiteSpace(Text(h.description)), $"{cmdlet} description");

            PipelineResult examples = ps.Run($"@((Get-Help {cmdlet} -Full).examples.example).Count");
            Assert.True((int)examples.Output.Single().BaseObject >= 2, $"{cmdlet} needs at least two examples");

            // Every parameter the cmdlet declares (common ones aside) is described.
            PipelineResult names = ps.Run($"(Get-Command {cmdlet}).Parameters.Keys | Where-Object {{ $_ -notin [System.Management.Automation.Cmdlet]::CommonParameters -and $_ -notin [System.Management.Automation.Cmdlet]::OptionalCommonParameters }}");
            foreach (string parameter in names.Output.Select(o => (string)o.BaseObject))
            {
                PipelineResult described = ps.Run($"((Get-Help {cmdlet} -Parameter {parameter}).description | ForEach-Object Text) -join ' '");
                Assert.False(string.IsNullOrWhiteSpace(described.Output.SingleOrDefault()?.BaseObject as string), $"{cmdlet} -{parameter} has no description");
            }
        }
    }

    [Fact]
    public void FileSystemCompletesFromProcFilesystems()
    {
        using var ps = new PowerShellSession();
        PipelineResult result = ps.Run(Complete("New-StagedMount -FileSystem tm"));

        Assert.True(result.Errors.Count == 0, result.Describe());
        var matches = result.Output.Select(o => (string)o.BaseObject).ToList();
        Assert.Contains("tmpfs|tmpfs: no device needed", matches);
        Assert.All(matches, m => Assert.StartsWith("tm", m));

        var all = ps.Run(Complete("New-StagedMount -FileSystem ")).Output.Select(o => ((string)o.BaseObject).Split('|')[0]).ToList();
        var registered = FileSystemCompleter.Parse(File.ReadAllText("/proc/filesystems")).Select(f => f.Name).ToList();
        Assert.Equal(registered, all);
        if (registered.Contains("ext4"))
        {
            Assert.Contains("ext4|ext4: needs a block device (-Source /dev/...)",
                ps.Run(Complete("New-StagedMount -FileSystem ext")).Output.Select(o => (string)o.BaseObject));
        }
    }

    [Fact]
    public void AboutTopicIsInstalled()
    {
        using var ps = new PowerShellSession();
        PipelineResult result = ps.Run("Get-Help about_MountHotplug | ForEach-Object { $_.ToString() }");
        string text = string.Join("\n", result.Output.Select(o => o.ToString()));
        Assert.Contains("RESOLVE_IN_ROOT", text);
        Assert.Contains("peer group", text);
    }

    [Fact]
    public void EveryOutputTypeHasATableView()
    {
        var format = System.Xml.Linq.XDocument.Load(Path.Combine(AppContext.BaseDirectory, "MountHotplug.Format.ps1xml"));
        var viewed = System.Xml.Linq.Extensions.Elements(format.Descendants("ViewSelectedBy"), "TypeName").Select(e => e.Value.Trim()).ToHashSet();
        var outputTypes = typeof(NewStagedMountCommand).Assembly.GetTypes()
            .Where(t => typeof(PSCmdlet).IsAssignableFrom(t) && !t.IsAbstract)
            .SelectMany(t => t.GetCustomAttributes(typeof(OutputTypeAttribute), inherit: false).Cast<OutputTypeAttribute>())
            .SelectMany(a => a.Type)
            .Select(t => t.Type?.FullName ?? t.Name)
            .Where(n => n.StartsWith("MountHotplug.", StringComparison.Ordinal))
            .Distinct()
            .ToList();

        Assert.NotEmpty(outputTypes);
        Assert.All(outputTypes, t => Assert.Contains(t, viewed));
    }

    private static string Complete(string input) =>
        $"(TabExpansion2 -inputScript '{input}' -cursorColumn {input.Length}).CompletionMatches | ForEach-Object {{ $_.CompletionText + '|' + $_.ToolTip }}";

    private static string Text(object? description) =>
        description is null ? string.Empty : string.Join(" ", LanguagePrimitives.GetEnumerable(description)?.Cast<object>().Select(d => ((dynamic)PSObject.AsPSObject(d)).Text as string) ?? Array.Empty<string>());
}
