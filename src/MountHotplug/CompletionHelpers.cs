using System.Collections;
using System.Management.Automation;

namespace MountHotplug;

/// <summary>What the argument completers share: reading the parameters bound so far, and quoting what they offer.</summary>
internal static class CompletionHelpers
{
    private static readonly char[] NeedsQuotes = { ' ', '\'', '$', '`', '(', ')', ';', '&', '|', '{', '}' };

    /// <summary>The value bound to <paramref name="name"/> on the command line so far, unwrapped from its PSObject; null if none.</summary>
    internal static object? Bound(IDictionary fakeBoundParameters, string name) =>
        fakeBoundParameters.Contains(name)
            ? (fakeBoundParameters[name] is PSObject wrapped ? wrapped.BaseObject : fakeBoundParameters[name])
            : null;

    /// <summary><paramref name="text"/> as PowerShell reads it back: single-quoted when it holds a character the parser would act on.</summary>
    internal static string Quote(string text) =>
        text.IndexOfAny(NeedsQuotes) >= 0 ? "'" + text.Replace("'", "''") + "'" : text;

    /// <summary>
    /// The mount namespace the command line names for the parameter being completed: a ContainerNamespace bound to the
    /// first of <paramref name="namespaceParameters"/> that has one, else the process of -ProcessId, pinned for this
    /// completion only (<paramref name="owned"/>: the caller disposes it). Null for the caller's own namespace.
    /// </summary>
    /// <exception cref="SyscallException">The -ProcessId process cannot be pinned (completion then offers nothing).</exception>
    internal static ContainerNamespace? Namespace(IDictionary fakeBoundParameters, out bool owned, params string[] namespaceParameters)
    {
        owned = false;
        foreach (string name in namespaceParameters)
        {
            if (Bound(fakeBoundParameters, name) is ContainerNamespace ns)
            {
                return ns;
            }
        }

        if (Bound(fakeBoundParameters, "ProcessId") is { } pid && LanguagePrimitives.TryConvertTo(pid, out int processId) && processId > 0)
        {
            owned = true;
            return ContainerNamespace.Open(processId);
        }

        return null;
    }

    /// <summary>
    /// The mount table of the namespace the command line names with -Namespace or -ProcessId (the caller's own without
    /// either); empty when it cannot be read, since completion has nobody to report an error to.
    /// </summary>
    internal static IReadOnlyList<MountEntry> ReadMountTable(IDictionary fakeBoundParameters)
    {
        ContainerNamespace? ns = null;
        bool owned = false;
        try
        {
            ns = Namespace(fakeBoundParameters, out owned, "Namespace");
            return MountLocator.ReadTable(ns);
        }
        catch (Exception ex) when (ex is SyscallException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return Array.Empty<MountEntry>();
        }
        finally
        {
            if (owned)
            {
                ns?.Dispose();
            }
        }
    }
}
