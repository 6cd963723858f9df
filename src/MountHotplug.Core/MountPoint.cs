namespace MountHotplug;

/// <summary>
/// A mount held open by a descriptor: a mount point found by path in a namespace (inside the container's root, a link in the
/// last component refused), or a staged (detached) mount. What Set-MountAttribute and Set-MountGroup act on, so that the
/// mount checked is the mount changed, whatever the container renames or stacks meanwhile.
/// </summary>
public sealed class MountPoint : IDisposable
{
    private readonly bool _ownsHandle;

    private MountPoint(string path, string description, SafeDescriptorHandle handle, bool ownsHandle, ContainerNamespace? ns, bool detached)
    {
        Path = path;
        Description = description;
        Handle = handle;
        _ownsHandle = ownsHandle;
        Namespace = ns;
        IsDetached = detached;
    }

    /// <summary>The path as opened (inside the container, or absolute in the caller's namespace); the source of a staged mount.</summary>
    public string Path { get; }

    /// <summary>"'/mnt/x' in the mount namespace of PID 123", for messages.</summary>
    public string Description { get; }

    /// <summary>The namespace the path was resolved in; null for the caller's own (or a staged mount).</summary>
    public ContainerNamespace? Namespace { get; }

    /// <summary>Whether this is a staged mount, attached nowhere.</summary>
    public bool IsDetached { get; }

    internal SafeDescriptorHandle Handle { get; }

    /// <summary>
    /// Opens the mount point at <paramref name="path"/>: inside <paramref name="ns"/>'s root (see <see cref="InRootPath"/>), or,
    /// with no namespace, <paramref name="path"/> as an absolute path in the caller's namespace.
    /// </summary>
    /// <exception cref="HotplugException">Invalid path, a link as the last component (TargetIsSymlink), or the container exited.</exception>
    /// <exception cref="SyscallException">The path cannot be opened.</exception>
    /// <exception cref="ObjectDisposedException">The namespace object was disposed.</exception>
    public static MountPoint Open(string path, ContainerNamespace? ns)
    {
        SafePathHandle handle = MountLocator.Open(path, ns);
        return new MountPoint(path, $"'{path}' {MountLocator.Where(ns)}", handle, ownsHandle: true, ns, detached: false);
    }

    /// <summary>A staged mount as one side of <see cref="JoinGroup"/>; its descriptor stays the staged mount's.</summary>
    public static MountPoint Of(StagedMount staged)
    {
        ArgumentNullException.ThrowIfNull(staged);
        return new MountPoint(staged.Source, $"the staged mount of '{staged.Source}'", staged.Handle, ownsHandle: false, null, detached: true);
    }

    /// <summary>What statx says of the mount (the unique mount id where the kernel has one).</summary>
    public StatxInfo Stat() => MountSyscalls.Statx(Handle, Path, uniqueMountId: true);

    /// <summary>Why this is no longer the mount <paramref name="listed"/> that Get-Mount showed; null when it still is.</summary>
    public string? Mismatch(Mount listed) => MountLocator.Mismatch(Handle, listed);

    /// <summary>Why this is not the root of mount <paramref name="expected"/> (a unique id); null when it is.</summary>
    public string? Mismatch(ulong expected) => MountLocator.Mismatch(Stat(), expected, unique: true, Path, Namespace);

    /// <summary>The Get-Mount object of this mount, read afresh; null if the namespace's table does not hold it.</summary>
    public Mount? Describe() => MountLocator.Describe(Handle, Namespace);

    /// <summary>
    /// Changes the mount's flags and propagation (mount_setattr). The kernel changes an attached mount only for a caller inside
    /// its namespace, so for a container the call runs on its session's namespace thread.
    /// </summary>
    /// <exception cref="SyscallException">mount_setattr (or entering the namespace) failed.</exception>
    /// <exception cref="HotplugException">The container exited.</exception>
    public void SetAttributes(MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive, Action<string>? trace = null) =>
        SetAttributes(set, clear, propagation, recursive, trace, why: null);

    /// <param name="why">Said in the trace instead of the bare change (Sync: "became shared: …").</param>
    internal void SetAttributes(MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive, Action<string>? trace, string? why)
    {
        if (Namespace is null || Namespace.IsCallerNamespace)
        {
            using NamespaceWorker inline = NamespaceWorker.ForCallerNamespace();
            int errno = inline.TryMountSetAttr(Handle, set, clear, propagation, recursive);
            trace?.Invoke(SetAttrTrace(set, clear, propagation, recursive, errno, workerThread: 0, why));
            ThrowIfFailed(errno);
            return;
        }

        Namespace.Session.SetAttributes(this, set, clear, propagation, recursive, trace, why);
    }

    internal string SetAttrTrace(MountAttributes set, MountAttributes clear, MountPropagation propagation, bool recursive, int errno, int workerThread,
        string? why) =>
        $"mount_setattr(fd {Handle.DescriptorNumber}, \"\", AT_EMPTY_PATH{(recursive ? "|AT_RECURSIVE" : string.Empty)}, {{{why ?? $"set {set}, clear {clear}, propagation {propagation}"}}})"
        + (workerThread == 0 ? string.Empty : $" on thread {workerThread} inside the namespace") + $" = {(errno == 0 ? "0" : ErrnoText.Name(errno))}";

    internal void ThrowIfFailed(int errno)
    {
        if (errno != 0)
        {
            throw SyscallException.Create("mount_setattr", errno, Path);
        }
    }

    /// <summary>
    /// Joins <paramref name="target"/> to the peer group of <paramref name="source"/> (move_mount MOVE_MOUNT_SET_GROUP). On
    /// EINVAL the kernel's checks are replayed to say which one refused (<see cref="SetGroupDiagnosis"/>).
    /// </summary>
    /// <exception cref="SetGroupException">The kernel refused with EINVAL; the condition says why.</exception>
    /// <exception cref="SyscallException">move_mount failed otherwise.</exception>
    public static void JoinGroup(MountPoint source, MountPoint target, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            MountSyscalls.MoveMount(source.Handle, target.Handle, MoveMountFlags.SetGroup, source.Description, target.Description);
            trace?.Invoke($"move_mount(fd {source.Handle.DescriptorNumber}, \"\", fd {target.Handle.DescriptorNumber}, \"\", F_EMPTY_PATH|T_EMPTY_PATH|SET_GROUP) = 0");
        }
        catch (SyscallException ex) when (ex.Errno == Errno.EINVAL)
        {
            (SetGroupCondition condition, string explanation) = SetGroupDiagnosis.Explain(source.Inspect(), target.Inspect());
            throw new SetGroupException(condition,
                $"Could not join {target.Description} to the peer group of {source.Description}: move_mount(MOVE_MOUNT_SET_GROUP) returned EINVAL (22). {explanation}", ex);
        }
    }

    /// <summary>This side's mountinfo row, found by the mount id statx gives for the descriptor.</summary>
    private SetGroupSide Inspect()
    {
        if (IsDetached)
        {
            return new SetGroupSide(Description, null, IsMountRoot: true, IsDetached: true);
        }

        StatxInfo info = MountSyscalls.Statx(Handle, Description, uniqueMountId: false);
        MountInfo? row = MountInfoParser.Read(Namespace?.ProcessId).FirstOrDefault(m => (ulong)m.MountId == info.MountId);
        return new SetGroupSide(Description, row, info.IsMountRoot);
    }

    public void Dispose()
    {
        if (_ownsHandle)
        {
            Handle.Dispose();
        }
    }
}

/// <summary>move_mount(MOVE_MOUNT_SET_GROUP) was refused with EINVAL; <see cref="Condition"/> names the kernel check that refused.</summary>
public sealed class SetGroupException(SetGroupCondition condition, string message, SyscallException syscall) : Exception(message, syscall)
{
    public SetGroupCondition Condition { get; } = condition;

    public SyscallException Syscall => (SyscallException)InnerException!;
}
