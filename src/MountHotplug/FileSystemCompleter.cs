using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace MountHotplug;

/// <summary>Completes -FileSystem from /proc/filesystems: the types this kernel has registered right now.</summary>
public sealed class FileSystemCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string prefix = (wordToComplete ?? string.Empty).Trim('\'', '"');
        foreach ((string name, bool needsDevice) in Read())
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                yield return new CompletionResult(name, name, CompletionResultType.ParameterValue,
                    needsDevice ? $"{name}: needs a block device (-Source /dev/...)" : $"{name}: no device needed");
            }
        }
    }

    /// <summary>"nodev\ttmpfs" / "\text4" lines: the name, and whether it is backed by a block device.</summary>
    internal static IReadOnlyList<(string Name, bool NeedsDevice)> Parse(string text)
    {
        var result = new List<(string, bool)>();
        foreach (string line in text.Split('\n'))
        {
            string[] fields = line.Split('\t');
            if (fields.Length == 2 && fields[1].Trim().Length > 0)
            {
                result.Add((fields[1].Trim(), fields[0].Trim() != "nodev"));
            }
        }

        return result.OrderBy(r => r.Item1, StringComparer.Ordinal).ToList();
    }

    private static IReadOnlyList<(string Name, bool NeedsDevice)> Read()
    {
        try
        {
            return Parse(File.ReadAllText("/proc/filesystems"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<(string, bool)>();
        }
    }
}
