using System.Management.Automation;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>Remove-StagedMount: unmounts mounts kept with New-StagedMount -StageName, and the stage once it is empty.</summary>
[Cmdlet(VerbsCommon.Remove, "StagedMount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.Docs + "Remove-StagedMount.md")]
public sealed class RemoveStagedMountCommand : PSCmdlet
{
    /// <summary>
    /// Names of kept mounts, matched exactly; a wildcard pattern matches case-sensitively. Needed unless -Container is given,
    /// which alone removes all of that container's.
    /// </summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("StageName")]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(StageNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>The container whose kept mounts to remove, matched exactly (a wildcard pattern case-sensitively). Without it: the mounts kept for no container.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("StageContainer")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(StageNameCompleter))]
    [AllowNull]
    [AllowEmptyString]
    public string? Container { get; set; }

    protected override void BeginProcessing() => Preconditions.Require(this);

    protected override void ProcessRecord()
    {
        // Lazily, pattern by pattern: each one is matched against what the ones before it left staged.
        string? container = string.IsNullOrEmpty(Container) ? null : Container;
        if (Name is null && container is null)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.StageNameRequired, ErrorCategory.InvalidArgument, null,
                "Say which staged mounts to remove.", "Give -Name (wildcards allowed), or -Container for all of one container's."));
        }

        foreach (StageKey key in (Name ?? new[] { "*" }).SelectMany(n => StageKeys.Matching(n, container)))
        {
            RemoveOne(key);
        }
    }

    private void RemoveOne(StageKey key)
    {
        if (!ShouldProcess($"unmount the staged mount '{key}' ({StageStore.EntryPath(key)}) and remove it", $"Remove the staged mount '{key}'?", "Remove-StagedMount"))
        {
            return;
        }

        string target = key.ToString();
        try
        {
            StageStore.Remove(key, WriteVerbose);
        }
        catch (StageException ex)
        {
            WriteError(MountErrors.FromStage(ex, target));
        }
        catch (Exception ex) when (ex is SyscallException or IOException or UnauthorizedAccessException)
        {
            WriteError(ex is SyscallException s
                ? MountErrors.FromSyscall(s, ErrorId.StageFailed, target, $"Could not remove the staged mount '{key}'")
                : MountErrors.Plain(ErrorId.StageFailed, ErrorCategory.WriteError, target, $"Could not remove the staged mount '{key}': {ex.Message}"));
        }
    }
}
