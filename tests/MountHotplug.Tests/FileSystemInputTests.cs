using System.Management.Automation;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: New-StagedMount -FileSystem's options, the kernel's fs-context messages and /proc/filesystems.</summary>
public sealed class FileSystemInputTests
{
    [Theory]
    [InlineData("size=64m", "size", "64m")]
    [InlineData("noswap", "noswap", null)]
    [InlineData("key=", "key", "")]
    [InlineData("lowerdir=/a:/b", "lowerdir", "/a:/b")]
    [InlineData("context=system_u:object_r:tmp_t:s0,c1", "context", "system_u:object_r:tmp_t:s0,c1")]
    public void OptionsParseIntoStringsAndFlags(string text, string key, string? value)
    {
        FileSystemOption option = FileSystemOption.TryParse(text, out string? reason)!;
        Assert.Null(reason);
        Assert.Equal((key, value), (option.Key, option.Value));
        Assert.Equal(text, option.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData(null, "empty")]
    [InlineData("=64m", "no name before '='")]
    [InlineData("ro,noexec", "one option per element")]
    [InlineData(" size=1m", "no spaces")]
    [InlineData("a\0b", "NUL")]
    public void MalformedOptionsAreRefusedWithAReason(string? text, string reasonPart)
    {
        Assert.Null(FileSystemOption.TryParse(text, out string? reason));
        Assert.Contains(reasonPart, reason);
    }

    [Theory]
    [InlineData("e tmpfs: Bad value for 'size'\n", FsMessageKind.Error, "tmpfs: Bad value for 'size'")]
    [InlineData("w ext4: warning text", FsMessageKind.Warning, "ext4: warning text")]
    [InlineData("i some info\n", FsMessageKind.Info, "some info")]
    [InlineData("no prefix at all", FsMessageKind.Error, "no prefix at all")]
    public void KernelMessagesAreSplitByTheirPrefix(string line, FsMessageKind kind, string text) =>
        Assert.Equal(new FsContextMessage(kind, text), FsContextMessage.Parse(line));

    [Fact]
    public void ProcFilesystemsListsNamesAndWhetherADeviceIsNeeded()
    {
        var parsed = FileSystemCompleter.Parse("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\tbtrfs\n\ngarbage\n");
        Assert.Equal(new[] { ("btrfs", true), ("ext4", true), ("sysfs", false), ("tmpfs", false) }, parsed);
    }

    [Fact]
    public void FileSystemErrorsCarryTheKernelsWordsAndAStableId()
    {
        var ex = new FileSystemException(FileSystemStep.Configure, "tmpfs", new FileSystemOption("size", "64x"),
            SyscallException.Create("fsconfig", (int)Errno.EINVAL, "size=64x"), [new FsContextMessage(FsMessageKind.Error, "tmpfs: Bad value for 'size'")],
            "tmpfs rejected the option 'size=64x': ... The kernel says: tmpfs: Bad value for 'size'.");
        ErrorRecord record = MountErrors.FromFileSystem(ex, "tmpfs");
        Assert.Equal("FileSystemOptionRejected", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, record.CategoryInfo.Category);
        Assert.Contains("The kernel says: tmpfs: Bad value for 'size'", record.ErrorDetails.Message);

        var notFound = new FileSystemException(FileSystemStep.Open, "nofs", null, SyscallException.Create("fsopen", (int)Errno.ENODEV, "nofs"), [], "x");
        Assert.Equal("FileSystemNotFound", MountErrors.FromFileSystem(notFound, "nofs").FullyQualifiedErrorId);
        var notBlock = new FileSystemException(FileSystemStep.Create, "ext4", null, SyscallException.Create("fsconfig", (int)Errno.ENOTBLK), [], "x");
        Assert.Contains("losetup", MountErrors.FromFileSystem(notBlock, "/etc/passwd").ErrorDetails.RecommendedAction);
    }
}
