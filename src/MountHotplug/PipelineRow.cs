using System.Collections;
using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Reads a host path and a container target from what a pipeline brings New-StagedMount: a string, a FileSystemInfo, a
/// hashtable, or an object with properties (Import-Csv and ConvertFrom-Json rows). Names are matched without regard to case,
/// as PowerShell binds parameters by property name.
/// </summary>
internal static class PipelineRow
{
    private static readonly string[] PathNames = ["Path", "Source", "FullName", "LiteralPath"];

    internal static (string? Path, string? Target) Read(PSObject input) => input.BaseObject switch
    {
        string path => (path, null),
        FileSystemInfo item => (item.FullName, null),
        IDictionary row => (First(PathNames.Select(name => Lookup(row, name))), First([Lookup(row, "Target")])),
        _ => (First(PathNames.Select(name => input.Properties[name]?.Value)), First([input.Properties["Target"]?.Value])),
    };

    // An empty CSV cell is how a row says "no value": it counts as absent (a row without a target is TargetMissing).
    private static string? First(IEnumerable<object?> values) =>
        values.Select(v => v?.ToString()).FirstOrDefault(v => !string.IsNullOrEmpty(v));

    private static string? Lookup(IDictionary row, string name) =>
        row.Keys.Cast<object>().FirstOrDefault(k => string.Equals(k.ToString(), name, StringComparison.OrdinalIgnoreCase)) is { } key
            ? row[key]?.ToString()
            : null;
}
