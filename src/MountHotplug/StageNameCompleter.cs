using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>
/// Completes Get-StagedMount and Remove-StagedMount: -Name with the names kept for the -Container on the command line (for
/// no container without it), -Container with the containers that have kept mounts.
/// </summary>
public sealed class StageNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        string? container = CompletionHelpers.Bound(fakeBoundParameters, "Container") is string { Length: > 0 } given ? given : null;
        if (parameterName != "Container" && container is not null && !StageStore.IsValidName(container))
        {
            return Array.Empty<CompletionResult>(); // a pattern, or a name no container can have
        }

        IReadOnlyList<string> names;
        try
        {
            names = parameterName == "Container" ? StageStore.Containers() : StageStore.Names(container);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<CompletionResult>();
        }

        // Stage names are letters, digits, '.', '_' and '-': nothing to quote.
        return names.Where(n => n.StartsWith(word, StringComparison.Ordinal))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, parameterName == "Container" ? $"mounts kept for '{n}'" : n))
            .ToList();
    }
}
