using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// docs/kernel-notes.md is where the kernel facts the code relies on are written down. A comment that points elsewhere
/// (notes beside the repository, which a clone does not have), a citation of a section that does not exist, or evidence
/// naming a test that was renamed or removed would each leave a reader with nothing; these keep that from happening.
/// </summary>
public sealed partial class DocsTests
{
    private const string NotesPath = "docs/kernel-notes.md";

    // Spelled in pieces so that this file does not match itself.
    private static readonly string[] OutsidePointers = ["../" + "shared", "/work/" + "shared", "kernel-mount" + "-api"];

    private static readonly string[] CodeRoots = ["src", "tests"];
    private static readonly string[] CitingRoots = ["src", "tests", "docs", "bench", "tools", "examples", "README.md", "CONTRIBUTING.md"];
    private static readonly HashSet<string> SkippedDirectories = ["bin", "obj", "TestResults", ".git"];

    [Fact]
    public void NoCodeOrTestPointsAtNotesOutsideTheRepository()
    {
        var offences = new List<string>();
        foreach ((string file, string[] lines) in TextFiles(CodeRoots))
        {
            for (int i = 0; i < lines.Length; i++)
            {
                if (OutsidePointers.FirstOrDefault(p => lines[i].Contains(p, StringComparison.OrdinalIgnoreCase)) is { } pointer)
                {
                    offences.Add($"{file}:{i + 1}: mentions '{pointer}'; cite a section of {NotesPath} instead: {lines[i].Trim()}");
                }
                else if (OldRuleCitation().IsMatch(lines[i]))
                {
                    offences.Add($"{file}:{i + 1}: cites a numbered rule of the old notes; cite a section of {NotesPath} (kernel-notes N<k>) instead: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(offences.Count == 0, string.Join('\n', offences));
    }

    [Fact]
    public void EveryCitationNamesASectionOfTheKernelNotes()
    {
        string notes = File.ReadAllText(Path.Combine(Mhp.RepositoryRoot, NotesPath));
        HashSet<string> sections = Headings(notes).Select(h => SectionNumber().Match(h)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet();
        HashSet<string> anchors = Headings(notes).Select(Anchor).ToHashSet();
        Assert.Contains("1", sections);
        Assert.Contains("n1-system-call-numbers-and-constants", anchors);

        var citations = new List<(string File, int Line, string Section, string? Anchor)>();
        foreach ((string file, string[] lines) in TextFiles(CitingRoots))
        {
            bool isNotes = file == NotesPath;
            for (int i = 0; i < lines.Length; i++)
            {
                foreach (Match m in SectionCitation().Matches(lines[i]))
                {
                    citations.Add((file, i + 1, m.Groups[1].Value, null));
                }

                foreach (Match m in AnchorCitation().Matches(lines[i]))
                {
                    citations.Add((file, i + 1, string.Empty, m.Groups[1].Value));
                }

                if (isNotes)
                {
                    foreach (Match m in LocalLink().Matches(lines[i]))
                    {
                        citations.Add((file, i + 1, string.Empty, m.Groups[1].Value));
                    }
                }
            }
        }

        // The code cites the notes where it relies on them: an empty list would mean the patterns, not the code, broke.
        Assert.Contains(citations, c => c.File == "src/MountHotplug.Core/NamespaceWorker.cs" && c.Section == "6");
        Assert.Contains(citations, c => c.File.StartsWith("docs/", StringComparison.Ordinal) && c.File != NotesPath && c.Anchor is not null);

        var broken = citations
            .Where(c => c.Anchor is null ? !sections.Contains(c.Section) : !anchors.Contains(c.Anchor))
            .Select(c => $"{c.File}:{c.Line}: {(c.Anchor is null ? $"kernel-notes N{c.Section}" : $"#{c.Anchor}")} is not a section of {NotesPath}")
            .ToList();
        Assert.True(broken.Count == 0, string.Join('\n', broken));
    }

    [Fact]
    public void EveryTestAndFileNamedAsEvidenceExists()
    {
        string notes = File.ReadAllText(Path.Combine(Mhp.RepositoryRoot, NotesPath));
        Dictionary<string, Type> testClasses = typeof(DocsTests).Assembly.GetTypes()
            .Where(t => t.IsClass && t.Name.EndsWith("Tests", StringComparison.Ordinal))
            .ToDictionary(t => t.Name);

        var named = TestReference().Matches(notes).Select(m => (Class: m.Groups[1].Value, Method: m.Groups[2].Value)).Distinct().ToList();
        Assert.Contains(named, n => n == ("StagingTests", "AnotherNamespaceEmptyingItsOwnStageLeavesThisOneMounted"));
        var missing = named
            .Where(n => !testClasses.TryGetValue(n.Class, out Type? type) || !IsTest(type.GetMethod(n.Method, BindingFlags.Public | BindingFlags.Instance)))
            .Select(n => $"{n.Class}.{n.Method} is named as evidence in {NotesPath} but is no test of this assembly")
            .ToList();

        var paths = RepositoryPath().Matches(notes).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(paths);
        missing.AddRange(paths.Where(p => !Path.Exists(Path.Combine(Mhp.RepositoryRoot, p))).Select(p => $"{p} is named in {NotesPath} but does not exist"));
        Assert.True(missing.Count == 0, string.Join('\n', missing));
    }

    /// <summary>GitHub's anchor for a heading: lower case, letters, digits, '-' and '_' kept, spaces made '-', the rest dropped.</summary>
    internal static string Anchor(string heading)
    {
        var anchor = new StringBuilder(heading.Length);
        foreach (char c in heading.Trim().ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '-' or '_')
            {
                anchor.Append(c);
            }
            else if (c == ' ')
            {
                anchor.Append('-');
            }
        }

        return anchor.ToString();
    }

    [Theory]
    [InlineData("N4. move_mount attaches only inside the caller's mount namespace", "n4-move_mount-attaches-only-inside-the-callers-mount-namespace")]
    [InlineData("N9. openat2 RESOLVE_IN_ROOT and single-name lookups", "n9-openat2-resolve_in_root-and-single-name-lookups")]
    [InlineData("N11. mount_setattr: read-only, atime, propagation", "n11-mount_setattr-read-only-atime-propagation")]
    public void AnchorsAreGitHubs(string heading, string anchor) => Assert.Equal(anchor, Anchor(heading));

    private static bool IsTest(MethodInfo? method) =>
        method is not null && method.GetCustomAttributes().Any(a => a.GetType().Name is "FactAttribute" or "TheoryAttribute" or "SkippableFactAttribute" or "SkippableTheoryAttribute");

    /// <summary>The text of headings outside code blocks.</summary>
    private static IEnumerable<string> Headings(string markdown)
    {
        bool inCode = false;
        foreach (string line in markdown.Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
            }
            else if (!inCode && Heading().Match(line) is { Success: true } m)
            {
                yield return m.Groups[1].Value;
            }
        }
    }

    /// <summary>Every text file below <paramref name="roots"/> (directories or files of the repository), by repository path.</summary>
    private static IEnumerable<(string File, string[] Lines)> TextFiles(IEnumerable<string> roots)
    {
        string repository = Mhp.RepositoryRoot;
        foreach (string root in roots)
        {
            string full = Path.Combine(repository, root);
            IEnumerable<string> files = File.Exists(full) ? [full] : Directory.Exists(full) ? Walk(full) : [];
            foreach (string file in files)
            {
                byte[] bytes = File.ReadAllBytes(file);
                if (bytes.Length < 4 * 1024 * 1024 && Array.IndexOf(bytes, (byte)0) < 0)
                {
                    yield return (Path.GetRelativePath(repository, file).Replace('\\', '/'), Encoding.UTF8.GetString(bytes).Split('\n'));
                }
            }
        }
    }

    private static IEnumerable<string> Walk(string directory)
    {
        foreach (string file in Directory.EnumerateFiles(directory))
        {
            yield return file;
        }

        foreach (string sub in Directory.EnumerateDirectories(directory).Where(d => !SkippedDirectories.Contains(Path.GetFileName(d))))
        {
            foreach (string file in Walk(sub))
            {
                yield return file;
            }
        }
    }

    [GeneratedRegex(@"^#{1,6}\s+(.+?)(?:\s+#+)?\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^N(\d+)\.\s")]
    private static partial Regex SectionNumber();

    [GeneratedRegex(@"kernel-notes N(\d+)\b")]
    private static partial Regex SectionCitation();

    [GeneratedRegex(@"kernel-notes\.md#([\w-]+)")]
    private static partial Regex AnchorCitation();

    [GeneratedRegex(@"\]\(#([\w-]+)\)")]
    private static partial Regex LocalLink();

    [GeneratedRegex(@"\brules? \d+\b", RegexOptions.IgnoreCase)]
    private static partial Regex OldRuleCitation();

    [GeneratedRegex(@"`([A-Z]\w*Tests)\.([A-Z]\w*)`")]
    private static partial Regex TestReference();

    // Files of this repository (the kernel's tools/testing/... paths the notes also name have no such ending).
    [GeneratedRegex(@"(?<![\w/.-])((?:src|tests|docs|bench|tools)/[\w./-]*\.(?:cs|c|md|sh|yaml|ps1|psm1))\b")]
    private static partial Regex RepositoryPath();
}
