using System.Management.Automation;
using MountHotplug.Native;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>Get-StagedMount: a fresh detached clone (open_tree) of a mount kept with New-StagedMount -StageName.</summary>
[Cmdlet(VerbsCommon.Get, "StagedMount")]
[OutputType(typeof(StagedMount))]
public sealed class GetStagedMountCommand : PSCmdlet
{
    /// <summary>Names of kept mounts; wildcards allowed. All of them when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("StageName")]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Name { get; set; } = { "*" };

    protected override void BeginProcessing() => Preconditions.Require(this, KernelFeature.OpenTree);

    protected override void ProcessRecord()
    {
        foreach (string name in Name.SelectMany(StageStore.Matching))
        {
            OpenOne(name);
        }
    }

    private void OpenOne(string name)
    {
        StagedMount staged;
        try
        {
            (SafeMountHandle clone, StageRecord? record) = StageStore.Open(name);
            try
            {
                StatxInfo info = MountSyscalls.Statx(clone, StageStore.EntryPath(name));
                WriteVerbose($"open_tree(\"{StageStore.EntryPath(name)}\", OPEN_TREE_CLONE{(record?.Recurse ?? true ? "|AT_RECURSIVE" : string.Empty)}) = fd {clone.DescriptorNumber}");
                staged = new StagedMount(record?.Source ?? StageStore.EntryPath(name), clone, info, record?.Recurse ?? true,
                    record?.AttributeFlags ?? MountAttributes.None, record?.PropagationValue ?? MountPropagation.Private, record?.IdMapUserNamespace, name);
            }
            catch
            {
                clone.Dispose();
                throw;
            }
        }
        catch (StageException ex)
        {
            WriteError(MountErrors.FromStage(ex, name));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, "StageFailed", name, $"Could not clone the staged mount '{name}'"));
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
