namespace MountHotplug;

/// <summary>How <see cref="InRootPath.Open"/> treats the path's last component.</summary>
internal enum InRootMode
{
    /// <summary>The last component is opened itself, never followed; a symlink there is refused (TargetIsSymlink).</summary>
    MountPoint,

    /// <summary>The path must lead to a directory; links in every component are followed, inside the root.</summary>
    Directory,
}

/// <summary>
/// The one resolver of paths inside a container: openat2 from the container's process root with RESOLVE_IN_ROOT and
/// RESOLVE_NO_MAGICLINKS, so that absolute links and ".." stay inside it and /proc magic links are refused
/// (kernel-notes N9). Opening is here; creating missing components one name at a time is <see cref="ContainerTarget"/>'s
/// create mode, which resolves with the same flags.
/// </summary>
internal static class InRootPath
{
    /// <summary>Symlinks (absolute or "..") stay inside the root; /proc/self/root style magic links are refused.</summary>
    internal const ResolveFlags InRoot = ResolveFlags.InRoot | ResolveFlags.NoMagicLinks;

    /// <summary>
    /// How the last component is opened in <see cref="InRootMode.MountPoint"/>: a symlink there is not followed but opened
    /// itself (and then refused). The container may swap the target directory for a link to /etc, or, in a chroot, to its
    /// root directory; following it would act there, and a check that looks the path up again would follow the same link
    /// and call it a success. move_mount does not follow a final link either without T_SYMLINKS.
    /// </summary>
    internal const OpenFlags LastComponent = OpenFlags.Path | OpenFlags.NoFollow;

    /// <summary>Splits and checks <paramref name="path"/> (absolute, no "..", no empty or over-long parts).</summary>
    /// <exception cref="HotplugException">InvalidTarget.</exception>
    internal static IReadOnlyList<string> Split(string? path) =>
        path is not null && path.Length > 0 && path.Trim('/').Length == 0 ? Array.Empty<string>()
        : TargetPath.TrySplit(path, out string? reason)
            ?? throw new HotplugException(HotplugFailure.InvalidTarget, path ?? string.Empty, $"Invalid path '{path}': {reason}.");

    /// <summary>Opens <paramref name="path"/> below <paramref name="root"/> as an O_PATH descriptor (a directory for the root itself).</summary>
    /// <exception cref="HotplugException">InvalidTarget, or TargetIsSymlink in <see cref="InRootMode.MountPoint"/>.</exception>
    /// <exception cref="SyscallException">openat2 failed (ENOENT: it does not exist).</exception>
    internal static SafePathHandle Open(SafeHandle root, string path, InRootMode mode)
    {
        IReadOnlyList<string> components = Split(path);
        if (components.Count == 0)
        {
            return MountSyscalls.OpenAt2(root, ".", OpenFlags.Path | OpenFlags.Directory, ResolveFlags.Beneath, "/");
        }

        string joined = TargetPath.Join(components);
        if (mode == InRootMode.Directory)
        {
            return MountSyscalls.OpenAt2(root, joined, OpenFlags.Path | OpenFlags.Directory, InRoot, path);
        }

        SafePathHandle handle = MountSyscalls.OpenAt2(root, joined, LastComponent, InRoot, path);
        if (MountSyscalls.Statx(handle, path).IsSymlink)
        {
            handle.Dispose();
            throw SymlinkRefused(joined);
        }

        return handle;
    }

    /// <summary>
    /// openat2 of <paramref name="path"/> below <paramref name="root"/> with <see cref="InRoot"/> and the caller's open flags;
    /// null with the errno when it fails (for callers that explain each errno themselves).
    /// </summary>
    internal static SafePathHandle? TryOpen(SafeHandle root, string path, OpenFlags flags, out int errno) =>
        MountSyscalls.TryOpenAt2(root, path, flags, InRoot, out errno);

    /// <summary>
    /// One name inside an already resolved directory, never followed if it is a link, never leaving the directory
    /// (RESOLVE_BENEATH): what the steps that act on a leaf use, so that no path string is looked up again.
    /// </summary>
    internal static SafePathHandle? TryOpenChild(SafeHandle directory, string name, out int errno) =>
        MountSyscalls.TryOpenAt2(directory, name, OpenFlags.Path | OpenFlags.NoFollow, ResolveFlags.Beneath | ResolveFlags.NoMagicLinks, out errno);

    /// <summary>The one error for a symlink as the last component, wherever a path inside a container is acted on.</summary>
    internal static HotplugException SymlinkRefused(string path) =>
        new(HotplugFailure.TargetIsSymlink, path,
            $"'{path}' is a symbolic link inside the container; a mount is never placed, changed or removed through a link in the last component, which the container could point at another mount.");
}
