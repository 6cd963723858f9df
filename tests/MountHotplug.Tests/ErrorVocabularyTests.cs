using System.Text.RegularExpressions;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>The module's error ids are one closed vocabulary (ErrorId), each documented, and spelled nowhere else.</summary>
public sealed class ErrorVocabularyTests
{
    private static readonly string CmdletSources = Path.Combine(Mhp.RepositoryRoot, "src", "MountHotplug");

    private static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(CmdletSources, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    [Fact]
    public void EveryErrorIdIsDocumentedForUsers()
    {
        string docs = string.Concat(Directory.EnumerateFiles(Path.Combine(Mhp.RepositoryRoot, "docs"), "*.md").Select(File.ReadAllText));
        var undocumented = Enum.GetNames<ErrorId>().Where(id => !Regex.IsMatch(docs, $@"\b{id}\b")).ToList();
        Assert.True(undocumented.Count == 0, "not in docs/: " + string.Join(", ", undocumented));
    }

    [Fact]
    public void OnlyMountErrorsMakesErrorRecords()
    {
        var makers = SourceFiles().Where(f => File.ReadAllText(f).Contains("new ErrorRecord(", StringComparison.Ordinal))
            .Select(Path.GetFileName).ToList();
        Assert.Equal(["MountErrors.cs"], makers);
    }

    [Fact]
    public void NoErrorIdIsSpelledAsAStringLiteral()
    {
        var names = Enum.GetNames<ErrorId>().ToHashSet(StringComparer.Ordinal);
        var spelled = SourceFiles()
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), "\"([A-Z][A-Za-z]+)\"").Select(m => (File: Path.GetFileName(f), Id: m.Groups[1].Value)))
            .Where(x => names.Contains(x.Id))
            .Select(x => $"{x.File}: \"{x.Id}\"")
            .ToList();
        Assert.Empty(spelled);
    }
}
