using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug.Runtimes;

/// <summary>
/// Completes New-StagedMount -IdMap with the user namespace files (/proc/PID/ns/user) of the running containers that have
/// a user namespace of their own, each shown with its runtime and name: the only ones an idmapped mount can map through.
/// A word that is not such a path gets nothing from here, and pwsh completes it as a file path.
/// </summary>
public sealed class IdMapCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? string.Empty).Trim('\'', '"');
        var results = new List<CompletionResult>();
        ulong own;
        try
        {
            own = ContainerNamespace.NamespaceInode("/proc/self/ns/user");
        }
        catch (SyscallException)
        {
            return results;
        }

        foreach (ContainerCandidate c in ContainerCompletion.Running().OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            string path = string.Create(CultureInfo.InvariantCulture, $"/proc/{c.ProcessId}/ns/user");
            if (!path.StartsWith(word, StringComparison.Ordinal) && !c.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            try
            {
                if (ContainerNamespace.NamespaceInode(path) == own)
                {
                    continue; // a privileged container: -IdMap refuses the host's own user namespace
                }
            }
            catch (SyscallException)
            {
                continue; // gone since the runtime answered
            }

            results.Add(new CompletionResult(path, $"{path} {c.Name}", CompletionResultType.ParameterValue,
                $"the user namespace of {c.Describe()}"));
        }

        return results;
    }
}
