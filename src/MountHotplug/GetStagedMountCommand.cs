using System.Management.Automation;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>Get-StagedMount: a fresh detached clone (open_tree) of a mount kept with New-StagedMount -StageName.</summary>
[Cmdlet(VerbsCommon.Get, "StagedMount", HelpUri = HelpLinks.Docs + "Get-StagedMount.md")]
[OutputType(typeof(StagedMount))]
public sealed class GetStagedMountCommand : MountCmdlet
{
    /// <summary>Names of kept mounts, matched exactly; a wildcard pattern matches case-sensitively. All of them when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("StageName")]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(StageNameCompleter))]
    public string[] Name { get; set; } = { "*" };

    /// <summary>
    /// The container whose kept mounts to get, matched exactly (a wildcard pattern case-sensitively). Without it: the mounts
    /// kept for no container.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("StageContainer")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(StageNameCompleter))]
    [AllowNull]
    [AllowEmptyString]
    public string? Container { get; set; }

    protected override void BeginProcessing() => Preconditions.Require(this, Requirements.GetStagedMount);

    protected override void ProcessRecord()
    {
        string? container = string.IsNullOrEmpty(Container) ? null : Container;
        foreach (StageKey key in Name.SelectMany(n => StageKeys.Matching(n, container)))
        {
            OpenOne(key);
        }
    }

    private void OpenOne(StageKey key)
    {
        StagedMount staged;
        try
        {
            staged = StagedMount.OpenStaged(key, Trace);
        }
        catch (StageException ex)
        {
            WriteError(MountErrors.FromStage(ex, key.ToString()));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.StageFailed, key.ToString(), $"Could not clone the staged mount '{key}'"));
            return;
        }

        try
        {
            WriteObject(staged);
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }
}
