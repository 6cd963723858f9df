using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug;

/// <summary>
/// Completes -Target with directories (and files) INSIDE the container given by -Namespace. The directory being completed is
/// resolved like the target itself (openat2 RESOLVE_IN_ROOT from the container process's own root), and listed through the
/// resulting descriptor, so a symlink planted in the container cannot make Tab list the host's files.
/// </summary>
public sealed class TargetPathCompleter : IArgumentCompleter
{
    private const int MaxResults = 200;

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        if (!TryGetNamespace(fakeBoundParameters, out ContainerNamespace? ns))
        {
            return Array.Empty<CompletionResult>();
        }

        string word = wordToComplete.Trim('\'', '"');
        if (word.Length == 0)
        {
            word = "/";
        }

        if (word[0] != '/')
        {
            return Array.Empty<CompletionResult>();
        }

        int slash = word.LastIndexOf('/');
        string directory = word[..(slash + 1)];
        string prefix = word[(slash + 1)..];
        try
        {
            return List(ns!, directory, prefix);
        }
        catch (Exception ex) when (ex is SyscallException or HotplugException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return Array.Empty<CompletionResult>();
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

    private static bool TryGetNamespace(IDictionary fakeBoundParameters, out ContainerNamespace? ns)
    {
        ns = CompletionHelpers.Bound(fakeBoundParameters, "Namespace") as ContainerNamespace
            ?? CompletionHelpers.Bound(fakeBoundParameters, "TargetNamespace") as ContainerNamespace;
        return ns is not null;
    }
}
