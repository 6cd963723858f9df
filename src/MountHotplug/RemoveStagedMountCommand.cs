using System.Management.Automation;
using MountHotplug.Native;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>Remove-StagedMount: unmounts mounts kept with New-StagedMount -StageName, and the stage once it is empty.</summary>
[Cmdlet(VerbsCommon.Remove, "StagedMount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class RemoveStagedMountCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("StageName")]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Name { get; set; } = Array.Empty<string>();

    protected override void BeginProcessing() => Preconditions.Require(this);

    protected override void ProcessRecord()
    {
        // Lazily, pattern by pattern: each one is matched against what the ones before it left staged.
        foreach (string name in Name.SelectMany(StageStore.Matching))
        {
            RemoveOne(name);
        }
    }

    private void RemoveOne(string name)
    {
        if (!ShouldProcess($"unmount the staged mount '{name}' ({StageStore.EntryPath(name)}) and remove it", $"Remove the staged mount '{name}'?", "Remove-StagedMount"))
        {
            return;
        }

        try
        {
            StageStore.Remove(name, WriteVerbose);
        }
        catch (StageException ex)
        {
            WriteError(MountErrors.FromStage(ex, name));
        }
        catch (Exception ex) when (ex is SyscallException or IOException or UnauthorizedAccessException)
        {
            WriteError(ex is SyscallException s
                ? MountErrors.FromSyscall(s, "StageFailed", name, $"Could not remove the staged mount '{name}'")
                : MountErrors.Plain("StageFailed", ErrorCategory.WriteError, name, $"Could not remove the staged mount '{name}': {ex.Message}"));
        }
    }
}
