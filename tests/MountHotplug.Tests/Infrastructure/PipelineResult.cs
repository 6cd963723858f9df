using System.Collections.ObjectModel;
using System.Management.Automation;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>What one pipeline run in the real PowerShell 7.6 engine produced.</summary>
public sealed record PipelineResult(
    Collection<PSObject> Output,
    IReadOnlyList<ErrorRecord> Errors,
    IReadOnlyList<WarningRecord> Warnings,
    IReadOnlyList<VerboseRecord> Verbose,
    IReadOnlyList<InformationRecord> Information,
    IReadOnlyList<ProgressRecord> Progress)
{
    /// <summary>The fully qualified id of each error, e.g. "TargetNotFound,MountHotplug.MoveMountIntoNamespaceCommand".</summary>
    public IReadOnlyList<string> ErrorIds => Errors.Select(e => e.FullyQualifiedErrorId).ToList();

    public string Describe() =>
        $"{Output.Count} output(s); errors: [{string.Join(" | ", Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e.ErrorDetails?.Message ?? e.Exception.Message}"))}]";
}
