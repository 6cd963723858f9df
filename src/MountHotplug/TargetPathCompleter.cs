using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug;

/// <summary>
/// Completes Move-MountIntoNamespace -Target with a path INSIDE the container of -Namespace. The directory being completed
/// is resolved like the target itself (openat2 RESOLVE_IN_ROOT from the container process's own root), and listed through
/// the resulting descriptor, so a symlink planted in the container cannot make Tab list the host's files. Without
/// -Namespace it offers nothing: the target is never a host path.
/// </summary>
public sealed class TargetPathCompleter : IArgumentCompleter
{
    private const int MaxResults = 200;

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Complete(parameterName, wordToComplete, fakeBoundParameters) ?? Array.Empty<CompletionResult>();

    /// <summary>
    /// The paths inside the namespace the command line names for <paramref name="parameterName"/> (Set-MountGroup's
    /// -Source and -Target each with its own, the others with -Namespace or -ProcessId) that start with the word; null when
    /// it names none (the caller's own namespace).
    /// </summary>
    internal static IReadOnlyList<CompletionResult>? Complete(string parameterName, string wordToComplete, IDictionary fakeBoundParameters)
    {
        string word = wordToComplete.Trim('\'', '"');
        ContainerNamespace? ns = null;
        bool owned = false;
        try
        {
            ns = CompletionHelpers.Namespace(fakeBoundParameters, out owned, parameterName switch
            {
                "Source" => ["SourceNamespace"],
                "Target" => ["TargetNamespace", "Namespace"],
                _ => ["Namespace"],
            });
            if (ns is null)
            {
                return null;
            }

            if (word.Length == 0)
            {
                word = "/";
            }

            if (word[0] != '/')
            {
                return Array.Empty<CompletionResult>();
            }

            int slash = word.LastIndexOf('/');
            return List(ns, word[..(slash + 1)], word[(slash + 1)..]);
        }
        catch (Exception ex) when (ex is SyscallException or HotplugException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return Array.Empty<CompletionResult>();
        }
        finally
        {
            if (owned)
            {
                ns?.Dispose();
            }
        }
    }

    internal static IReadOnlyList<CompletionResult> List(ContainerNamespace ns, string directory, string prefix)
    {
        var results = new List<CompletionResult>();
        foreach ((string name, bool isDirectory) in ns.Session.ListDirectory(directory, prefix, MaxResults))
        {
            string completion = directory + name + (isDirectory ? "/" : string.Empty);
            results.Add(new CompletionResult(CompletionHelpers.Quote(completion), name, isDirectory ? CompletionResultType.ProviderContainer : CompletionResultType.ProviderItem,
                $"{completion} (inside PID {ns.ProcessId})"));
        }

        results.Sort((a, b) => string.CompareOrdinal(a.CompletionText, b.CompletionText));
        return results;
    }
}

/// <summary>
/// Completes a path in the mount namespace the command line names: inside the container of Set-MountGroup's
/// -SourceNamespace or -TargetNamespace, or of -Namespace or -ProcessId of Export-MountTopology and Restore-MountTopology,
/// the same way as <see cref="TargetPathCompleter"/>. Without one the path is the caller's own, and pwsh completes it.
/// </summary>
public sealed class NamespacePathCompleter : IArgumentCompleter
{
    // Null, not an empty list, makes pwsh fall back to its own path completion.
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        TargetPathCompleter.Complete(parameterName, wordToComplete, fakeBoundParameters)!;
}
