using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug;

/// <summary>
/// Completes Get-Mount -FileSystemType with the types mounted in the namespace the command line names (-Namespace or
/// -ProcessId, else the caller's own): what the filter can match there, not every type the kernel knows.
/// </summary>
public sealed class FileSystemTypeCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        return CompletionHelpers.ReadMountTable(fakeBoundParameters)
            .GroupBy(m => m.FileSystemType, StringComparer.Ordinal)
            .Where(g => g.Key.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new CompletionResult(CompletionHelpers.Quote(g.Key), g.Key, CompletionResultType.ParameterValue,
                $"{g.Key}: {g.Count()} mount(s), at {string.Join(", ", g.Select(m => m.MountPoint).Take(3))}{(g.Count() > 3 ? ", …" : string.Empty)}"))
            .ToList();
    }
}
