using System.Management.Automation;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: errno and hot-plug failures mapped to exceptions, stable error ids and categories.</summary>
public sealed class ErrorMappingTests
{
    [Theory]
    [InlineData(Errno.EPERM, typeof(SyscallPermissionException), ErrorCategory.PermissionDenied)]
    [InlineData(Errno.EACCES, typeof(SyscallPermissionException), ErrorCategory.PermissionDenied)]
    [InlineData(Errno.ENOENT, typeof(SyscallNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData(Errno.ESRCH, typeof(SyscallNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData(Errno.ENOSYS, typeof(SyscallNotSupportedException), ErrorCategory.NotImplemented)]
    [InlineData(Errno.EBUSY, typeof(SyscallBusyException), ErrorCategory.ResourceBusy)]
    [InlineData(Errno.ELOOP, typeof(SyscallSymlinkException), ErrorCategory.SecurityError)]
    [InlineData(Errno.EINVAL, typeof(SyscallException), ErrorCategory.InvalidArgument)]
    public void ErrnoMapsToOneExceptionTypeAndCategory(Errno errno, Type exceptionType, ErrorCategory category)
    {
        SyscallException ex = SyscallException.Create("move_mount", (int)errno, "/src", "/dst");
        Assert.Equal(exceptionType, ex.GetType());
        Assert.Equal(category, MountErrors.CategoryOf(ex.Errno));
        Assert.Equal($"move_mount '/src' -> '/dst' failed: {errno} ({(int)errno}, {ErrnoText.Describe((int)errno)}).", ex.Message);
    }

    [Fact]
    public void UnknownErrnoIsStillNamed()
    {
        Assert.Equal("errno 200", ErrnoText.Name(200));
        Assert.Equal("Unknown error", ErrnoText.Describe(200));
        Assert.Contains("errno 200 (200, Unknown error)", SyscallException.Create("statx", 200).Message);
    }

    [Fact]
    public void SyscallErrorRecordCarriesIdCategoryTargetErrnoAndHint()
    {
        var ex = SyscallException.Create("open_tree", (int)Errno.ENOENT, "/srv/none");
        ErrorRecord record = MountErrors.FromSyscall(ex, ErrorId.SourceNotFound, "/srv/none", "Could not clone '/srv/none'");
        Assert.Equal("SourceNotFound", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, record.CategoryInfo.Category);
        Assert.Equal("/srv/none", record.TargetObject);
        Assert.Same(ex, record.Exception);
        // The hint is in RecommendedAction only: pwsh's ConciseView prints both, so it must not end the message too (issue 13).
        Assert.Equal("Could not clone '/srv/none': open_tree '/srv/none' failed: ENOENT (2, No such file or directory).", record.ErrorDetails.Message);
        Assert.Equal("Check the source path on the host.", record.ErrorDetails.RecommendedAction);
    }

    [Theory]
    [InlineData(HotplugFailure.InvalidTarget, "InvalidTarget", ErrorCategory.InvalidArgument)]
    [InlineData(HotplugFailure.TargetNotFound, "TargetNotFound", ErrorCategory.ObjectNotFound)]
    [InlineData(HotplugFailure.TargetTypeMismatch, "TargetTypeMismatch", ErrorCategory.InvalidArgument)]
    [InlineData(HotplugFailure.TargetIsMountPoint, "TargetIsMountPoint", ErrorCategory.ResourceExists)]
    [InlineData(HotplugFailure.ContainerExited, "ContainerExited", ErrorCategory.ObjectNotFound)]
    [InlineData(HotplugFailure.MoveNotVerified, "MoveNotVerified", ErrorCategory.InvalidResult)]
    public void HotplugFailuresMapToStableIds(HotplugFailure failure, string id, ErrorCategory category)
    {
        ErrorRecord record = MountErrors.FromHotplug(new HotplugException(failure, "/mnt/x", "message."), "/src");
        Assert.Equal(id, record.FullyQualifiedErrorId);
        Assert.Equal(category, record.CategoryInfo.Category);
        Assert.False(string.IsNullOrEmpty(record.ErrorDetails.RecommendedAction));
    }

    [Fact]
    public void MoveMountFailureCategoryFollowsItsErrno()
    {
        var ex = new HotplugException(HotplugFailure.MoveMountFailed, "/mnt/x", "Could not attach.", SyscallException.Create("move_mount", (int)Errno.EPERM));
        ErrorRecord record = MountErrors.FromHotplug(ex, "/src");
        Assert.Equal(ErrorCategory.PermissionDenied, record.CategoryInfo.Category);
        Assert.Contains("EPERM", record.ErrorDetails.Message);
        Assert.Contains("CAP_SYS_ADMIN", record.ErrorDetails.RecommendedAction);
    }

    [Fact]
    public void AttributesReadLikeMountOptions()
    {
        Assert.Equal("rw", StagedMount.FormatAttributes(MountAttributes.None));
        Assert.Equal("ro,nosuid,nodev,noexec", StagedMount.FormatAttributes(MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev | MountAttributes.NoExec));
    }

    [Fact]
    public void NulInAPathIsRefusedBeforeAnySystemCall()
    {
        var ex = Assert.Throws<ArgumentException>(() => MountSyscalls.OpenTree(null, "/tmp\0/etc", OpenTreeFlags.Clone));
        Assert.Contains("\\0", ex.Message);
    }
}
