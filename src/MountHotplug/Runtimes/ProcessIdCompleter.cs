using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug.Runtimes;

/// <summary>
/// Completes -ProcessId with the init PIDs of the running containers the runtimes know of, each shown with its runtime and
/// name. Digits match the start of a PID; anything else matches the start of a name, and Tab puts that container's PID in.
/// </summary>
public sealed class ProcessIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        bool byPid = word.All(char.IsAsciiDigit);
        return ContainerCompletion.Running()
            .Where(c => byPid
                ? c.ProcessId.ToString(CultureInfo.InvariantCulture).StartsWith(word, StringComparison.Ordinal)
                : c.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .Select(c =>
            {
                string pid = c.ProcessId.ToString(CultureInfo.InvariantCulture);
                return new CompletionResult(pid, $"{pid} {c.Name}", CompletionResultType.ParameterValue, c.Describe());
            })
            .ToList();
    }
}

/// <summary>The running containers, as completers offer them: none when the runtimes cannot be asked.</summary>
internal static class ContainerCompletion
{
    internal static IReadOnlyList<ContainerCandidate> Running()
    {
        try
        {
            return ContainerLookup.For(null, null).ListCandidates();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<ContainerCandidate>();
        }
    }
}
