using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug;

/// <summary>
/// Completes -Path with the mount points of the namespace the command line names (-Namespace or -ProcessId), or of the
/// caller's own: what Get-Mount, Set-MountAttribute and Remove-Mount take.
/// </summary>
public sealed class MountPointCompleter : IArgumentCompleter
{
    private const int MaxResults = 200;

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = wordToComplete.Trim('\'', '"');
        return CompletionHelpers.ReadMountTable(fakeBoundParameters).Select(m => m.MountPoint)
            .Where(p => p.StartsWith(word, StringComparison.Ordinal))
            .Distinct()
            .Order(StringComparer.Ordinal)
            .Take(MaxResults)
            .Select(p => new CompletionResult(CompletionHelpers.Quote(p), p, CompletionResultType.ParameterValue, p))
            .ToList();
    }
}
