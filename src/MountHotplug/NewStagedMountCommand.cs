using System.Management.Automation;
using MountHotplug.Native;

namespace MountHotplug;

/// <summary>New-StagedMount: a detached clone of a host path, with its attributes already set.</summary>
[Cmdlet(VerbsCommon.New, "StagedMount")]
[OutputType(typeof(StagedMount))]
public sealed class NewStagedMountCommand : PSCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Clone the mounts below the path too (AT_RECURSIVE), like rbind.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    [Parameter]
    public SwitchParameter ReadOnly { get; set; }

    [Parameter]
    public SwitchParameter NoSuid { get; set; }

    [Parameter]
    public SwitchParameter NoDev { get; set; }

    [Parameter]
    public SwitchParameter NoExec { get; set; }

    [Parameter]
    [ValidateSet(nameof(MountPropagation.Private), nameof(MountPropagation.Shared), nameof(MountPropagation.Slave), nameof(MountPropagation.Unbindable))]
    public MountPropagation Propagation { get; set; } = MountPropagation.Private;

    protected override void BeginProcessing() =>
        Preconditions.Require(this, KernelFeature.OpenTree, KernelFeature.MountSetAttr);

    protected override void ProcessRecord()
    {
        foreach (string path in Path)
        {
            StageOne(path);
        }
    }

    private void StageOne(string path)
    {
        string source;
        try
        {
            source = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out ProviderInfo provider, out _);
            if (provider.Name != "FileSystem")
            {
                WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, path,
                    $"'{path}' is a {provider.Name} path, not a file system path.", "Give a directory or file on this host."));
                return;
            }
        }
        catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
        {
            WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, path, $"'{path}' is not a valid path: {ex.Message}"));
            return;
        }

        if (TargetPath.TextProblem(source) is { } problem)
        {
            WriteError(MountErrors.Plain("InvalidPath", ErrorCategory.InvalidArgument, path, $"The path {problem}.",
                "Name the file or directory by a path the kernel can be given exactly."));
            return;
        }

        OpenTreeFlags flags = OpenTreeFlags.Clone | (Recurse ? OpenTreeFlags.Recursive : OpenTreeFlags.None);
        SafeMountHandle handle;
        try
        {
            handle = MountSyscalls.OpenTree(null, source, flags);
            WriteVerbose($"open_tree(AT_FDCWD, \"{source}\", {flags}) = fd {handle.DescriptorNumber}");
        }
        catch (SyscallException ex)
        {
            string id = ex.Errno is Errno.ENOENT or Errno.ENOTDIR ? "SourceNotFound" : "OpenTreeFailed";
            WriteError(MountErrors.FromSyscall(ex, id, path, $"Could not clone '{source}'"));
            return;
        }

        StagedMount staged;
        try
        {
            MountAttributes set = (ReadOnly ? MountAttributes.ReadOnly : 0) | (NoSuid ? MountAttributes.NoSuid : 0)
                | (NoDev ? MountAttributes.NoDev : 0) | (NoExec ? MountAttributes.NoExec : 0);

            // Rule 3: a clone of a shared host mount stays in its peer group unless told otherwise, and later host
            // mounts would leak into the container; so propagation is always set, Private unless asked.
            MountSyscalls.MountSetAttr(handle, set, MountAttributes.None, Propagation, Recurse, source);
            WriteVerbose($"mount_setattr(fd {handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{(Recurse ? "|AT_RECURSIVE" : "")}, {{attr_set={StagedMount.FormatAttributes(set)}, propagation={Propagation}}}) = 0");
            StatxInfo info = MountSyscalls.Statx(handle, source);
            staged = new StagedMount(source, handle, info, Recurse, set, Propagation);
        }
        catch (SyscallException ex)
        {
            handle.Dispose();
            WriteError(MountErrors.FromSyscall(ex, ex.Syscall == "mount_setattr" ? "MountSetAttrFailed" : "StatxFailed", path,
                $"Could not set the attributes of the clone of '{source}' (nothing was mounted)"));
            return;
        }

        try
        {
            WriteObject(staged);
        }
        catch
        {
            // Dropped by a downstream error or Ctrl+C: nobody else holds it, so dissolve it now.
            staged.Dispose();
            throw;
        }
    }
}
