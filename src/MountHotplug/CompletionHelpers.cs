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
}
