using System.Management.Automation;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>-Name and -Container wildcards of the stage cmdlets, matched the way PowerShell users expect.</summary>
internal static class StageKeys
{
    /// <summary>
    /// The staged mounts a -Name and -Container value stand for. A literal is taken as it is, exactly (a missing one is
    /// reported by whoever opens it); only a value with wildcard characters is a pattern, matched case-sensitively against
    /// what is staged now, as container and stage names are. A null container means the mounts kept for no container.
    /// </summary>
    internal static IReadOnlyList<StageKey> Matching(string namePattern, string? containerPattern)
    {
        IEnumerable<string?> containers = containerPattern is null ? new string?[] { null }
            : !WildcardPattern.ContainsWildcardCharacters(containerPattern) ? new string?[] { containerPattern }
            : StageStore.Containers().Where(new WildcardPattern(containerPattern, WildcardOptions.None).IsMatch).Select(c => (string?)c);
        var keys = new List<StageKey>();
        foreach (string? container in containers)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(namePattern))
            {
                keys.Add(new StageKey(container, namePattern));
                continue;
            }

            var wildcard = new WildcardPattern(namePattern, WildcardOptions.None);
            keys.AddRange(StageStore.Names(container).Where(wildcard.IsMatch).Select(n => new StageKey(container, n)));
        }

        return keys;
    }

}
