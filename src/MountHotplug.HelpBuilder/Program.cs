using System.Text;
using MountHotplug.HelpBuilder;

// MountHotplug.HelpBuilder <docsDir> <outputModuleDir> [--check]
//
//   docs/<Verb-Noun>.md  (platyPS schema 2.0.0) -> <outputModuleDir>/en-US/<external help file>
//   docs/about_*.md                              -> <outputModuleDir>/en-US/about_*.help.txt
//
// Every file is checked first; on any error nothing is written, each problem is printed as
// "file(line): error MHHnnn: [section] message" and the exit code is 1. --check only checks.

const string Culture = "en-US";

var positional = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
bool checkOnly = args.Contains("--check", StringComparer.Ordinal);
if (positional.Count != 2 || args.Any(a => a.StartsWith("--", StringComparison.Ordinal) && a != "--check"))
{
    Console.Error.WriteLine("usage: MountHotplug.HelpBuilder <docsDir> <outputModuleDir> [--check]");
    return 2;
}

string docsDir = Path.GetFullPath(positional[0]);
string outputDir = Path.Combine(Path.GetFullPath(positional[1]), Culture);
if (!Directory.Exists(docsDir))
{
    Console.Error.WriteLine($"{docsDir}: error MHH000: the docs directory does not exist.");
    return 1;
}

var diagnostics = new DiagnosticBag();
var commands = new List<CommandHelp>();
var aboutTopics = new SortedDictionary<string, string>(StringComparer.Ordinal);

var markdownFiles = Directory.GetFiles(docsDir, "*.md", SearchOption.TopDirectoryOnly).Order(StringComparer.Ordinal).ToList();
foreach (string file in markdownFiles)
{
    string name = Path.GetFileNameWithoutExtension(file);
    string text = File.ReadAllText(file, Encoding.UTF8);
    if (name.StartsWith("about_", StringComparison.OrdinalIgnoreCase))
    {
        string? about = AboutTopicConverter.Convert(file, text, diagnostics);
        if (about is not null)
        {
            aboutTopics[name + ".help.txt"] = about;
        }
    }
    else if (name.Contains('-', StringComparison.Ordinal) && char.IsUpper(name[0]))
    {
        CommandHelp? help = CommandDocParser.Parse(file, text, diagnostics);
        if (help is not null)
        {
            commands.Add(help);
        }
    }
    else
    {
        // README.md, kernel-notes.md and the like are not help: a cmdlet's name starts with its capitalized verb.
        Console.WriteLine($"MountHotplug.HelpBuilder: skipping {file} (neither Verb-Noun.md nor about_*.md)");
    }
}

if (commands.Count == 0 && !diagnostics.HasErrors)
{
    diagnostics.Error(docsDir, 0, HelpErrorCodes.Structure, string.Empty, "no cmdlet markdown (Verb-Noun.md) found.");
}

if (diagnostics.HasErrors)
{
    foreach (HelpDiagnostic d in diagnostics.Items)
    {
        Console.Error.WriteLine(d.ToString());
    }

    Console.Error.WriteLine($"MountHotplug.HelpBuilder: {diagnostics.Items.Count} error(s); no help was written.");
    return 1;
}

var helpFiles = commands
    .GroupBy(c => c.ExternalHelpFile, StringComparer.OrdinalIgnoreCase)
    .ToDictionary(g => g.Key, g => MamlWriter.ToText(MamlWriter.Build(g)), StringComparer.OrdinalIgnoreCase);

if (checkOnly)
{
    Console.WriteLine($"MountHotplug.HelpBuilder: {commands.Count} command(s) and {aboutTopics.Count} about topic(s) in {docsDir} are valid.");
    return 0;
}

Directory.CreateDirectory(outputDir);
foreach ((string fileName, string content) in helpFiles.Concat(aboutTopics))
{
    WriteFile(Path.Combine(outputDir, fileName), content);
}

// An about topic whose markdown was deleted must not linger in the staged module.
foreach (string stale in Directory.GetFiles(outputDir, "about_*.help.txt"))
{
    if (!aboutTopics.ContainsKey(Path.GetFileName(stale)))
    {
        File.Delete(stale);
        Console.WriteLine($"MountHotplug.HelpBuilder: removed stale {stale}");
    }
}

Console.WriteLine(
    $"MountHotplug.HelpBuilder: {commands.Count} command(s) -> {string.Join(", ", helpFiles.Keys)}; " +
    $"{aboutTopics.Count} about topic(s); in {outputDir}");
return 0;

// Written next to the target and renamed over it: a reader never sees half a file. The write
// always happens (even with the same content) so that MSBuild's Inputs/Outputs check sees
// outputs newer than the inputs.
static void WriteFile(string path, string content)
{
    string temp = path + ".tmp";
    File.WriteAllText(temp, content, new UTF8Encoding(false));
    File.Move(temp, path, overwrite: true);
}
