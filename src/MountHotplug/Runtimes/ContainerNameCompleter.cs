using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug.Runtimes;

/// <summary>Completes -Name with the running containers the runtimes know of (only those of -Runtime when it is given).</summary>
public sealed class ContainerNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        ContainerRuntime? runtime = null;
        if (fakeBoundParameters["Runtime"] is { } r && LanguagePrimitives.TryConvertTo(r, out ContainerRuntime parsed))
        {
            runtime = parsed;
        }

        string? lxcPath = fakeBoundParameters["LxcPath"] as string;
        string? project = fakeBoundParameters["Project"] as string;
        string word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var pattern = new WildcardPattern(WildcardPattern.Escape(word) + "*", WildcardOptions.IgnoreCase);
        IReadOnlyList<ContainerCandidate> candidates;
        try
        {
            candidates = ContainerLookup.For(runtime, lxcPath, project).ListCandidates();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            yield break;
        }

        foreach (ContainerCandidate c in candidates.Where(c => pattern.IsMatch(c.Name)).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            // -Name is a string, so a CT ID such as 101 binds as one unquoted; only other characters need quotes.
            string text = c.Name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.' or ':')
                ? c.Name
                : $"'{c.Name.Replace("'", "''", StringComparison.Ordinal)}'";
            yield return new CompletionResult(text, c.Name, CompletionResultType.ParameterValue, c.Describe());
        }
    }
}
