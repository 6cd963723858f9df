namespace MountHotplug;

/// <summary>
/// The module's error vocabulary: every ErrorRecord's FullyQualifiedErrorId starts with one of these names, and each names
/// one condition, whichever cmdlet meets it (so a script can catch it by id). MountErrors builds the records; nothing else
/// spells an id. A new condition gets a new member here and a line in about_MountHotplug.
/// </summary>
public enum ErrorId
{
    // Preconditions of every command.
    NotLinux,
    NoCapSysAdmin,
    KernelTooOld,

    // The container: finding, pinning and following it.
    ContainerNotFound,
    ContainerNotRunning,
    AmbiguousContainerName,
    RuntimeUnavailable,
    ContainerChanged,
    ContainerExited,
    ProcessNotFound,
    PidfdOpenFailed,
    NamespaceDisposed,
    NamespaceConflict,
    MountNamespaceChanged,
    EnterNamespaceFailed,

    // Paths and mounts inside a namespace.
    InvalidPath,
    InvalidTarget,
    TargetMissing,
    TargetNotFound,
    TargetTypeMismatch,
    TargetIsMountPoint,
    TargetIsSymlink,
    CreateTargetFailed,
    MountNotFound,
    NotAMountPoint,
    NotMounted,
    MountChanged,
    ReadMountTableFailed,

    // Staging a mount (New-StagedMount, the stage).
    SourceNotFound,
    InputWithoutPath,
    OpenTreeFailed,
    MountSetAttrFailed,
    StatxFailed,
    InvalidOption,
    FileSystemNotFound,
    FsOpenFailed,
    FileSystemOptionRejected,
    FileSystemCreateFailed,
    FsMountFailed,
    IdMapNotUserNamespace,
    IdMapInitialNamespace,
    IdMapNotSupported,
    IdMapFailed,
    InvalidStageName,
    StageNameRequired,
    StageContainerWithoutName,
    StageUnbindable,
    StageNeedsOnePath,
    StageNameExists,
    StagedMountNotFound,
    StageFailed,

    // Attaching (Move-MountIntoNamespace).
    MountNotStaged,
    MoveMountFailed,
    MoveNotVerified,
    ReplaceTargetNotMounted,
    ReplaceFailed,
    SealNeedsOwnUserNamespace,
    SealNeedsReadOnly,
    SealHelperMissing,
    SealHelperFailed,
    SealTransferFailed,
    SealCloneFailed,
    SealPrivateNamespaceFailed,
    SealEnterUserNamespaceFailed,
    SealCopyFailed,
    SealNotLocked,

    // Unplugging (Remove-Mount).
    MountNotAttached,
    MountBusy,
    UnmountFailed,
    UnmountNotVerified,

    // Changing mounts (Set-MountAttribute, Set-MountGroup).
    NothingToChange,
    SetGroupFailed,
    SetGroupNotMounted,
    SetGroupNotMountRoot,
    SetGroupDifferentFilesystem,
    SetGroupRootNotInside,
    SetGroupTargetNotPrivate,
    SetGroupSourcePrivate,
    SetGroupLockedChildren,

    // Topologies (Export-/Restore-MountTopology).
    OutFileFailed,
    InvalidTopology,
    InvalidDestination,
    DestinationShared,
    CreateMountFailed,
    AttachFailed,
    SharingFailed,
    RestoreFailed,
    RestoreNotExact,

    // Converging (Sync-ContainerMount).
    SourceMissing,
    DuplicateTarget,
    InvalidEntry,
    SyncConflict,
    SyncStateInvalid,
    SyncFileNotFound,
    SyncFileInvalid,
    SyncFailed,

    // Watching (Watch-Mount).
    WatchFailed,
    MountEventsLost,
}
