using System.Management.Automation;
using MountHotplug.Staging;

namespace MountHotplug;

/// <summary>
/// New-StagedMount: a detached mount with its attributes already set — a clone of a host path (open_tree), or a new
/// filesystem instance (fsopen, fsconfig, fsmount).
/// </summary>
[Cmdlet(VerbsCommon.New, "StagedMount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathSet, HelpUri = HelpLinks.Docs + "New-StagedMount.md")]
[OutputType(typeof(StagedMount))]
public sealed class NewStagedMountCommand : MountCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string FileSystemSet = "FileSystem";
    private const string InputObjectSet = "InputObject";
    private const string LiteralPathSet = "LiteralPath";

    /// <summary>Host paths; wildcards are expanded on the host, and a pattern that matches nothing is an error.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Host paths taken exactly as written: '[', ']', '*' and '?' are part of the name.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet)]
    [Alias("FullName", "PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    /// <summary>
    /// What the pipeline brings: a path string, a file or directory (Get-ChildItem, Get-Item), or a row (Import-Csv,
    /// ConvertFrom-Json, a hashtable) with a Path or Source and, optionally, a Target that travels with the staged mount to
    /// Move-MountIntoNamespace. One parameter takes them all because a row's Target would otherwise be lost: a path
    /// parameter bound from the row cannot see its other columns.
    /// </summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    [ValidateNotNull]
    public PSObject InputObject { get; set; } = null!;

    /// <summary>Clone the mounts below the path too (AT_RECURSIVE), like rbind.</summary>
    [Parameter(ParameterSetName = PathSet)]
    [Parameter(ParameterSetName = LiteralPathSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    public SwitchParameter Recurse { get; set; }

    /// <summary>The filesystem type to create, as /proc/filesystems names it (tmpfs, ext4, xfs, …).</summary>
    [Parameter(Mandatory = true, ParameterSetName = FileSystemSet)]
    [ArgumentCompleter(typeof(FileSystemCompleter))]
    [ValidateNotNullOrEmpty]
    public string FileSystem { get; set; } = string.Empty;

    /// <summary>fsconfig "source": the block device for a disk filesystem, any name for tmpfs and the like.</summary>
    [Parameter(ParameterSetName = FileSystemSet)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>Filesystem parameters, one per element: "key=value" (FSCONFIG_SET_STRING) or "key" (FSCONFIG_SET_FLAG).</summary>
    [Parameter(ParameterSetName = FileSystemSet)]
    [ValidateNotNull]
    public string[] Option { get; set; } = Array.Empty<string>();

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

    private MountAttributes Attributes =>
        (ReadOnly ? MountAttributes.ReadOnly : 0) | (NoSuid ? MountAttributes.NoSuid : 0)
        | (NoDev ? MountAttributes.NoDev : 0) | (NoExec ? MountAttributes.NoExec : 0);

    /// <summary>Idmap the mount through this user namespace: a ContainerNamespace, or the path of a user namespace file.</summary>
    [Parameter]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(Runtimes.IdMapCompleter))]
    public IdMapSource? IdMap { get; set; }

    /// <summary>Also keep the mount attached in the stage under this name, for Get-StagedMount in another process.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StageName { get; set; }

    /// <summary>
    /// With -StageName: the container the kept mount is for. Its names are its own: Get-StagedMount -Container gives it only
    /// its mounts, and Remove-StagedMount -Container removes only those.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [Alias("StageContainer")]
    public string? Container { get; set; }

    private OpenedUserNamespace? _userns;

    protected override void BeginProcessing()
    {
        Preconditions.Require(this, ParameterSetName == FileSystemSet ? "-FileSystem" : "-Path",
            ParameterSetName == FileSystemSet ? Requirements.NewStagedMountFileSystem : Requirements.NewStagedMountPath);
        if (IdMap is not null)
        {
            Preconditions.RequireFeatures(this, "-IdMap", Requirements.NewStagedMountIdMap);
        }

        if (StageName is not null && !StageStore.IsValidName(StageName))
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.InvalidStageName, ErrorCategory.InvalidArgument, StageName,
                $"'{StageName}' is not a valid stage name.", "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."));
        }

        if (Container is not null && StageName is null)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.StageContainerWithoutName, ErrorCategory.InvalidArgument, Container,
                $"-Container '{Container}' says which container a kept mount is for, but no -StageName keeps one.",
                "Add -StageName to keep the mount in the stage for the container, or drop -Container."));
        }

        if (Container is not null && !StageStore.IsValidName(Container))
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.InvalidStageName, ErrorCategory.InvalidArgument, Container,
                $"'{Container}' is not a valid container name for the stage.", "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."));
        }

        if (StageName is not null && Propagation == MountPropagation.Unbindable)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.StageUnbindable, ErrorCategory.InvalidArgument, StageName,
                "An unbindable mount cannot be cloned, so it cannot be kept in the stage for Get-StagedMount.",
                "Choose another -Propagation, or drop -StageName."));
        }

        if (IdMap is not null)
        {
            try
            {
                _userns = IdMapping.Open(IdMap, p => SessionState.Path.GetUnresolvedProviderPathFromPSPath(p));
                WriteVerbose($"open({_userns.Description}) = fd {_userns.DescriptorNumber}, user namespace {_userns.Inode}");
            }
            catch (IdMapException ex)
            {
                // The object is what -IdMap was given: the ContainerNamespace, or the path.
                ThrowTerminatingError(MountErrors.FromIdMap(ex, (object?)IdMap.Container ?? IdMap.Path));
            }
        }
    }

    protected override void EndProcessing() => Dispose();

    public void Dispose()
    {
        _userns?.Dispose();
        _userns = null;
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == FileSystemSet)
        {
            CreateFileSystem();
            return;
        }

        if (ParameterSetName == InputObjectSet)
        {
            (string? path, string? target) = PipelineRow.Read(InputObject);
            if (string.IsNullOrEmpty(path))
            {
                WriteError(MountErrors.Plain(ErrorId.InputWithoutPath, ErrorCategory.InvalidArgument, InputObject,
                    $"The input '{InputObject}' names no path: it is not a string or a file, and it has no Path, Source or FullName.",
                    "Give each row a Path (or Source) column with the host path to stage."));
                return;
            }

            StageOne(path, target);
            return;
        }

        List<string> paths = ParameterSetName == LiteralPathSet ? LiteralPath.ToList() : ExpandWildcards(Path);
        if (StageName is not null && paths.Count > 1)
        {
            WriteError(MountErrors.Plain(ErrorId.StageNeedsOnePath, ErrorCategory.InvalidArgument, string.Join(", ", paths),
                $"-StageName '{StageName}' names one staged mount, but {paths.Count} paths were given.", "Stage one path per name."));
            return;
        }

        foreach (string path in paths)
        {
            StageOne(path, target: null);
        }
    }

    /// <summary>
    /// -Path as PowerShell's own cmdlets read it: a pattern becomes the host paths it matches (none is an error for that
    /// pattern), a path without wildcard characters is kept as written, so that a missing one fails with open_tree's errno.
    /// </summary>
    private List<string> ExpandWildcards(IEnumerable<string> patterns)
    {
        var paths = new List<string>();
        foreach (string pattern in patterns)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                paths.Add(pattern);
                continue;
            }

            IReadOnlyList<string> matches;
            try
            {
                matches = SessionState.Path.GetResolvedProviderPathFromPSPath(pattern, out _);
            }
            catch (ItemNotFoundException)
            {
                matches = Array.Empty<string>();
            }

            if (matches.Count == 0)
            {
                WriteError(MountErrors.Plain(ErrorId.SourceNotFound, ErrorCategory.ObjectNotFound, pattern,
                    $"Nothing on the host matches '{pattern}'; nothing was staged for it.",
                    "Check the pattern; use -LiteralPath for a name that contains '[', ']', '*' or '?'."));
                continue;
            }

            // A match is a real name, which may itself hold '[' or '*': StageOne takes it literally.
            paths.AddRange(matches);
        }

        return paths;
    }

    private void CreateFileSystem()
    {
        var options = new List<FileSystemOption>();
        foreach (string text in Option)
        {
            FileSystemOption? option = FileSystemOption.TryParse(text, out string? reason);
            if (option is null)
            {
                WriteError(MountErrors.Plain(ErrorId.InvalidOption, ErrorCategory.InvalidArgument, text, $"Invalid -Option: {reason}.",
                    "Give each option as key=value or as a bare flag name, one per element: -Option size=64m, mode=0755."));
                return;
            }

            options.Add(option);
        }

        string target = Source ?? FileSystem;
        if (StageName is not null)
        {
            var key = new StageKey(Container, StageName);
            string what = Source is null ? $"the new {FileSystem} mount" : $"the new {FileSystem} mount of '{Source}'";
            if (!ShouldProcess($"keep {what} in the stage as '{key}' ({StageStore.EntryPath(key)}), for Get-StagedMount",
                    $"Keep {what} in the stage as '{key}'?", "New-StagedMount"))
            {
                return;
            }
        }

        StagedMount staged;
        try
        {
            staged = StagedMount.CreateFileSystem(FileSystem, Source, options, Attributes, Propagation, WriteVerbose, message =>
            {
                if (message.Kind == FsMessageKind.Warning)
                {
                    WriteWarning($"{FileSystem}: {message.Text}");
                }
                else
                {
                    WriteVerbose($"{FileSystem} says: {message.Text}");
                }
            }, StageName, Container, _userns);
        }
        catch (FileSystemException ex)
        {
            WriteError(MountErrors.FromFileSystem(ex, target));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Syscall == "mount_setattr" ? ErrorId.MountSetAttrFailed : ErrorId.StatxFailed, target,
                $"Could not set the propagation of the new {FileSystem} mount (nothing was mounted)"));
            return;
        }
        catch (IdMapException ex)
        {
            WriteError(MountErrors.FromIdMap(ex, target));
            return;
        }
        catch (StageException ex)
        {
            // A stage problem is about the name it keeps the mount under.
            WriteError(MountErrors.FromStage(ex, new StageKey(Container, StageName!).ToString()));
            return;
        }

        Emit(staged);
    }

    private void Emit(StagedMount staged)
    {
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

    private void StageOne(string path, string? target)
    {
        string source;
        try
        {
            source = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out ProviderInfo provider, out _);
            if (provider.Name != "FileSystem")
            {
                WriteError(MountErrors.Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, path,
                    $"'{path}' is a {provider.Name} path, not a file system path.", "Give a directory or file on this host."));
                return;
            }
        }
        catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
        {
            WriteError(MountErrors.Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, path, $"'{path}' is not a valid path: {ex.Message}"));
            return;
        }

        if (TargetPath.TextProblem(source) is { } problem)
        {
            WriteError(MountErrors.Plain(ErrorId.InvalidPath, ErrorCategory.InvalidArgument, path, $"The path {problem}.",
                "Name the file or directory by a path the kernel can be given exactly."));
            return;
        }

        // Keeping a mount in the stage outlives the session, so it is the change -WhatIf and -Confirm are about; a mount that
        // is only staged is dissolved with its object, and nothing is asked for it.
        if (StageName is not null)
        {
            var key = new StageKey(Container, StageName);
            if (!ShouldProcess($"keep a clone of '{source}' in the stage as '{key}' ({StageStore.EntryPath(key)}), for Get-StagedMount",
                    $"Keep a clone of '{source}' in the stage as '{key}'?", "New-StagedMount"))
            {
                return;
            }
        }

        StagedMount staged;
        try
        {
            staged = StagedMount.Clone(source, new CloneOptions
            {
                Recurse = Recurse,
                Attributes = Attributes,
                Propagation = Propagation,
                IdMap = _userns,
                StageName = StageName,
                StageContainer = Container,
                RequestedTarget = target,
            }, Trace);
        }
        catch (SyscallException ex) when (ex.Syscall == "open_tree")
        {
            ErrorId id = ex.Errno is Errno.ENOENT or Errno.ENOTDIR ? ErrorId.SourceNotFound : ErrorId.OpenTreeFailed;
            WriteError(MountErrors.FromSyscall(ex, id, path, $"Could not clone '{source}'"));
            return;
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ex.Syscall == "mount_setattr" ? ErrorId.MountSetAttrFailed : ErrorId.StatxFailed, path,
                $"Could not set the attributes of the clone of '{source}' (nothing was mounted)"));
            return;
        }
        catch (IdMapException ex)
        {
            WriteError(MountErrors.FromIdMap(ex, path));
            return;
        }
        catch (StageException ex)
        {
            // A stage problem is about the name it keeps the mount under.
            WriteError(MountErrors.FromStage(ex, new StageKey(Container, StageName!).ToString()));
            return;
        }

        Emit(staged);
    }
}
