namespace MountHotplug;

/// <summary>One filesystem parameter for fsconfig: "key=value" is a string, a bare "key" a flag.</summary>
public sealed record FileSystemOption(string Key, string? Value)
{
    /// <summary>Parses "size=64m" (string), "noswap" (flag) or "key=" (an empty string). Null and a reason when malformed.</summary>
    public static FileSystemOption? TryParse(string? text, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(text))
        {
            reason = "an option is empty";
            return null;
        }

        if (text.Contains('\0'))
        {
            reason = "an option contains a NUL character";
            return null;
        }

        int equals = text.IndexOf('=');
        string key = equals < 0 ? text : text[..equals];
        if (key.Length == 0)
        {
            reason = $"'{text}' has no name before '='";
            return null;
        }

        if (key.Trim() != key || key.Contains(','))
        {
            reason = $"'{key}' is not an option name (no spaces or commas: give one option per element, e.g. -Option size=64m, mode=0755)";
            return null;
        }

        return new FileSystemOption(key, equals < 0 ? null : text[(equals + 1)..]);
    }

    public override string ToString() => Value is null ? Key : $"{Key}={Value}";
}

/// <summary>The step of making a new filesystem that failed.</summary>
public enum FileSystemStep
{
    /// <summary>fsopen: the type is unknown (ENODEV) or not allowed.</summary>
    Open,

    /// <summary>fsconfig(FSCONFIG_SET_*): the filesystem rejected a parameter.</summary>
    Configure,

    /// <summary>fsconfig(FSCONFIG_CMD_CREATE): the superblock could not be made (bad device, wrong type, I/O error).</summary>
    Create,

    /// <summary>fsmount: the superblock could not be turned into a mount.</summary>
    Mount,
}

/// <summary>Making a filesystem with fsopen/fsconfig/fsmount failed; carries the kernel's own messages for it.</summary>
public sealed class FileSystemException : Exception
{
    public FileSystemException(FileSystemStep step, string fileSystem, FileSystemOption? option, SyscallException syscall,
        IReadOnlyList<FsContextMessage> kernelMessages, string message)
        : base(message, syscall)
    {
        Step = step;
        FileSystem = fileSystem;
        Option = option;
        KernelMessages = kernelMessages;
    }

    public FileSystemStep Step { get; }

    public string FileSystem { get; }

    /// <summary>The parameter that was rejected (Configure only).</summary>
    public FileSystemOption? Option { get; }

    /// <summary>What the kernel logged to the filesystem context, in order.</summary>
    public IReadOnlyList<FsContextMessage> KernelMessages { get; }

    public SyscallException Syscall => (SyscallException)InnerException!;
}

/// <summary>Makes a detached mount of a new filesystem instance: fsopen, fsconfig for each parameter, FSCONFIG_CMD_CREATE, fsmount.</summary>
public static class FileSystemBuilder
{
    /// <summary>
    /// Creates the filesystem and returns its detached mount. <paramref name="source"/> (a device path for block
    /// filesystems, any name for tmpfs) is set first, then each option in order. Nothing is left on failure.
    /// </summary>
    /// <param name="trace">Called with each system call made (for -Verbose).</param>
    /// <param name="messages">Called with the warnings and infos the kernel logged on success.</param>
    /// <exception cref="FileSystemException">A step failed; its message includes what the kernel logged.</exception>
    internal static SafeMountHandle Create(string fileSystem, string? source, IReadOnlyList<FileSystemOption> options, MountAttributes attributes,
        Action<string>? trace = null, Action<FsContextMessage>? messages = null)
    {
        using SafeFsContextHandle context = MountSyscalls.TryFsOpen(fileSystem, out int errno)
            ?? throw Failed(FileSystemStep.Open, fileSystem, null, SyscallException.Create("fsopen", errno, fileSystem), [],
                errno == (int)Errno.ENODEV
                    ? $"The kernel knows no filesystem type '{fileSystem}'"
                    : $"Could not open a filesystem context for '{fileSystem}'");
        trace?.Invoke($"fsopen(\"{fileSystem}\", FSOPEN_CLOEXEC) = fd {context.DescriptorNumber}");

        var all = new List<FileSystemOption>();
        if (source is not null)
        {
            all.Add(new FileSystemOption("source", source));
        }

        all.AddRange(options);
        foreach (FileSystemOption option in all)
        {
            errno = MountSyscalls.TryFsConfigSet(context, option.Key, option.Value);
            trace?.Invoke(option.Value is null
                ? $"fsconfig(fd {context.DescriptorNumber}, FSCONFIG_SET_FLAG, \"{option.Key}\", NULL, 0) = {Result(errno)}"
                : $"fsconfig(fd {context.DescriptorNumber}, FSCONFIG_SET_STRING, \"{option.Key}\", \"{option.Value}\", 0) = {Result(errno)}");
            if (errno != 0)
            {
                throw Failed(FileSystemStep.Configure, fileSystem, option,
                    SyscallException.Create("fsconfig", errno, option.ToString()), MountSyscalls.ReadFsMessages(context),
                    option.Key == "source" && ReferenceEquals(option, all[0]) && source is not null
                        ? $"{fileSystem} rejected the source '{source}'"
                        : $"{fileSystem} rejected the option '{option}'");
            }
        }

        errno = MountSyscalls.TryFsConfigCreate(context);
        trace?.Invoke($"fsconfig(fd {context.DescriptorNumber}, FSCONFIG_CMD_CREATE, NULL, NULL, 0) = {Result(errno)}");
        if (errno != 0)
        {
            throw Failed(FileSystemStep.Create, fileSystem, null, SyscallException.Create("fsconfig(FSCONFIG_CMD_CREATE)", errno),
                MountSyscalls.ReadFsMessages(context),
                source is null ? $"Could not create the {fileSystem} filesystem" : $"Could not create the {fileSystem} filesystem from '{source}'");
        }

        SafeMountHandle mount = MountSyscalls.TryFsMount(context, attributes, out errno)
            ?? throw Failed(FileSystemStep.Mount, fileSystem, null, SyscallException.Create("fsmount", errno, fileSystem),
                MountSyscalls.ReadFsMessages(context), $"Could not make a mount of the new {fileSystem} filesystem");
        trace?.Invoke($"fsmount(fd {context.DescriptorNumber}, FSMOUNT_CLOEXEC, {AttributeNames(attributes)}) = fd {mount.DescriptorNumber}");

        if (messages is not null)
        {
            foreach (FsContextMessage message in MountSyscalls.ReadFsMessages(context))
            {
                messages(message);
            }
        }

        return mount;
    }

    /// <summary>"MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID", or "0".</summary>
    public static string AttributeNames(MountAttributes attributes)
    {
        var names = new List<string>();
        if (attributes.HasFlag(MountAttributes.ReadOnly)) names.Add("MOUNT_ATTR_RDONLY");
        if (attributes.HasFlag(MountAttributes.NoSuid)) names.Add("MOUNT_ATTR_NOSUID");
        if (attributes.HasFlag(MountAttributes.NoDev)) names.Add("MOUNT_ATTR_NODEV");
        if (attributes.HasFlag(MountAttributes.NoExec)) names.Add("MOUNT_ATTR_NOEXEC");
        return names.Count == 0 ? "0" : string.Join('|', names);
    }

    private static string Result(int errno) => errno == 0 ? "0" : ErrnoText.Name(errno);

    private static FileSystemException Failed(FileSystemStep step, string fileSystem, FileSystemOption? option, SyscallException syscall,
        IReadOnlyList<FsContextMessage> kernel, string what)
    {
        string said = kernel.Count == 0
            ? " The kernel logged no message for it."
            : " The kernel says: " + string.Join("; ", kernel.Select(m => m.Kind switch
            {
                FsMessageKind.Warning => "warning: " + m.Text,
                FsMessageKind.Info => "info: " + m.Text,
                _ => m.Text,
            })) + ".";
        return new FileSystemException(step, fileSystem, option, syscall, kernel, $"{what}: {syscall.Message}{said}");
    }
}
