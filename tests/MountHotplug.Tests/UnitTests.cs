using System.Management.Automation;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: path validation, mountinfo parsing, SET_GROUP diagnosis, errno and error mapping.</summary>
public sealed class TargetPathTests
{
    [Theory]
    [InlineData("/mnt/data", new[] { "mnt", "data" })]
    [InlineData("/mnt//data/", new[] { "mnt", "data" })]
    [InlineData("/./mnt/./data/.", new[] { "mnt", "data" })]
    [InlineData("/srv/ünïcode dir/€", new[] { "srv", "ünïcode dir", "€" })]
    [InlineData("/srv/\ud83d\ude00", new[] { "srv", "\ud83d\ude00" })]
    public void ValidTargetsSplitIntoComponents(string path, string[] expected)
    {
        Assert.Equal(expected, TargetPath.TrySplit(path, out string? reason));
        Assert.Null(reason);
    }

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("", "empty")]
    [InlineData("mnt/data", "absolute")]
    [InlineData("/", "root")]
    [InlineData("//.//", "root")]
    [InlineData("/mnt/../etc", "'..'")]
    [InlineData("/mnt/data/..", "'..'")]
    [InlineData("/mnt/a\0b", "NUL")]
    public void InvalidTargetsAreRefusedWithAReason(string? path, string reasonPart)
    {
        Assert.Null(TargetPath.TrySplit(path, out string? reason));
        Assert.Contains(reasonPart, reason);
    }

    // Built in code: an attribute's string is stored as UTF-8, where a lone surrogate cannot survive.
    [Theory]
    [InlineData("/mnt/a", 0xD800, "b", "lone surrogate (U+D800) at position 6")]
    [InlineData("/mnt/a", 0xDC00, "", "lone surrogate (U+DC00) at position 6")]
    [InlineData("/mnt/", 0xDE00, "\ud83d\ude00", "lone surrogate (U+DE00) at position 5")]
    public void TargetsWithALoneSurrogateAreRefused(string before, int surrogate, string after, string reasonPart)
    {
        string path = before + (char)surrogate + after;
        Assert.Null(TargetPath.TrySplit(path, out string? reason));
        Assert.Contains(reasonPart, reason);
        Assert.Contains(reasonPart, TargetPath.TextProblem(path));
        Assert.Null(TargetPath.TextProblem(before + after));
    }

    [Fact]
    public void OverlongPathsAndComponentsAreRefused()
    {
        Assert.Null(TargetPath.TrySplit("/" + new string('a', 256), out string? component));
        Assert.Contains("255", component);
        Assert.Null(TargetPath.TrySplit(string.Concat(Enumerable.Repeat("/abcdefgh", 500)), out string? path));
        Assert.Contains("4095", path);
        Assert.NotNull(TargetPath.TrySplit("/" + new string('a', 255), out _));
    }

    [Fact]
    public void JoinNormalizes() => Assert.Equal("/mnt/data", TargetPath.Join(TargetPath.TrySplit("//mnt/./data/", out _)!));
}

public sealed class MountInfoParserTests
{
    [Fact]
    public void ParsesEveryField()
    {
        MountInfo row = MountInfoParser.ParseLine("36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 shared:7 propagate_from:3 - ext3 /dev/root rw,errors=continue")!;
        Assert.Equal(36, row.MountId);
        Assert.Equal(35, row.ParentId);
        Assert.Equal((98u, 0u), (row.DeviceMajor, row.DeviceMinor));
        Assert.Equal("/mnt1", row.Root);
        Assert.Equal("/mnt/parent", row.MountPoint);
        Assert.Equal("rw,noatime", row.Options);
        Assert.Equal(PropagationState.Shared | PropagationState.Slave, row.Propagation);
        Assert.Equal((7, 1, 3), (row.PeerGroup, row.Master, row.PropagateFrom));
        Assert.Equal(("ext3", "/dev/root", "rw,errors=continue"), (row.FileSystemType, row.Source, row.SuperOptions));
        Assert.False(row.IsReadOnly);
        Assert.Equal("shared:7 master:1 propagate_from:3", row.PropagationText);
    }

    [Fact]
    public void PrivateUnbindableAndReadOnly()
    {
        MountInfo row = MountInfoParser.ParseLine("47 66 254:0 /tmp/data /mnt/data ro,relatime unbindable - ext4 /dev/vda rw")!;
        Assert.Equal(PropagationState.Unbindable, row.Propagation);
        Assert.True(row.IsReadOnly);
        Assert.Equal("unbindable", row.PropagationText);
        Assert.Equal("private", MountInfoParser.ParseLine("1 0 0:1 / / rw - rootfs rootfs rw")!.PropagationText);
    }

    [Fact]
    public void UnescapesOctalSequences()
    {
        MountInfo row = MountInfoParser.ParseLine(@"50 1 0:5 /a\040b /mnt/with\040space\011tab\134back rw - tmpfs my\040src rw")!;
        Assert.Equal("/a b", row.Root);
        Assert.Equal("/mnt/with space\ttab\\back", row.MountPoint);
        Assert.Equal("my src", row.Source);
        Assert.Equal("/x/ü", MountInfoParser.Unescape(@"/x/\303\274"));
        Assert.Equal(@"/trailing\04", MountInfoParser.Unescape(@"/trailing\04"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("1 2 3 4 5 6 7 8 9 10")]
    [InlineData("x 0 0:1 / / rw - rootfs rootfs rw")]
    [InlineData("1 0 01 / / rw - rootfs rootfs rw")]
    public void RejectsMalformedLines(string line) => Assert.Null(MountInfoParser.ParseLine(line));

    [Fact]
    public void ParsesThisProcessTable()
    {
        var rows = MountInfoParser.Read();
        Assert.Contains(rows, r => r.MountPoint == "/");
        Assert.Equal(File.ReadAllLines("/proc/self/mountinfo").Length, rows.Count);
    }
}

public sealed class SetGroupDiagnosisTests
{
    private static MountInfo Row(string root = "/", int peer = 0, int master = 0, uint minor = 40, string point = "/m") =>
        new(100, 1, 0, minor, root, point, "rw", peer != 0 ? PropagationState.Shared : master != 0 ? PropagationState.Slave : PropagationState.Private,
            peer, master, 0, "tmpfs", "t", "rw");

    public static TheoryData<SetGroupSide, SetGroupSide, SetGroupCondition, string> Cases => new()
    {
        { new("S", null, true), new("T", Row(), true), SetGroupCondition.SourceNotMounted, "not mounted" },
        { new("S", Row(peer: 5), true), new("T", null, true), SetGroupCondition.TargetNotMounted, "not mounted" },
        { new("S", Row(peer: 5), false), new("T", Row(), true), SetGroupCondition.SourceNotMountRoot, "not the root of a mount" },
        { new("S", Row(peer: 5), true), new("T", Row(), false), SetGroupCondition.TargetNotMountRoot, "not the root of a mount" },
        { new("S", Row(peer: 5), true), new("T", Row(minor: 41), true), SetGroupCondition.DifferentFilesystem, "0:40 tmpfs vs 0:41" },
        { new("S", Row("/a", peer: 5), true), new("T", Row("/ab"), true), SetGroupCondition.RootNotInside, "'/ab' is not inside Source's root '/a'" },
        { new("S", Row(peer: 5), true), new("T", Row(peer: 143), true), SetGroupCondition.TargetNotPrivate, "already shared (peer group 143); make it private first" },
        { new("S", Row(peer: 5), true), new("T", Row(master: 9), true), SetGroupCondition.TargetNotPrivate, "a slave (of peer group 9)" },
        { new("S", Row(), true), new("T", Row(), true), SetGroupCondition.SourcePrivate, "Source is private" },
        { new("S", Row("/a", master: 3), true), new("T", Row("/a/b"), true), SetGroupCondition.LockedChildren, "locked" },
        { new("S", null, true, IsDetached: true), new("T", Row(), true), SetGroupCondition.Unknown, "detached" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExplainsTheFirstFailingConditionInKernelOrder(SetGroupSide source, SetGroupSide target, SetGroupCondition expected, string text)
    {
        (SetGroupCondition condition, string explanation) = SetGroupDiagnosis.Explain(source, target);
        Assert.Equal(expected, condition);
        Assert.Contains(text, explanation);
    }

    [Theory]
    [InlineData("/a/b", "/a", true)]
    [InlineData("/a", "/a", true)]
    [InlineData("/anything", "/", true)]
    [InlineData("/ab", "/a", false)]
    [InlineData("/a", "/a/b", false)]
    public void SubdirectoryIsByWholeComponents(string path, string ancestor, bool expected) =>
        Assert.Equal(expected, SetGroupDiagnosis.IsSubdirectory(path, ancestor));

    [Fact]
    public void EveryConditionHasItsOwnErrorId()
    {
        var ids = Enum.GetValues<SetGroupCondition>().Select(SetMountGroupCommand.ErrorIdOf).ToList();
        Assert.All(ids, id => Assert.StartsWith("SetGroup", id.ToString()));
        Assert.Contains(ErrorId.SetGroupTargetNotPrivate, ids);
        Assert.Contains(ErrorId.SetGroupSourcePrivate, ids);
    }
}

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

public sealed class UnplugLogicTests
{
    [Theory]
    [InlineData("/mnt/data/f", "/", "/mnt/data/f")]
    [InlineData("/tmp/mhp-sbx-1/rootfs/mnt/data/f", "/tmp/mhp-sbx-1/rootfs", "/mnt/data/f")]
    [InlineData("/tmp/mhp-sbx-1/rootfsX/f", "/tmp/mhp-sbx-1/rootfs", "/tmp/mhp-sbx-1/rootfsX/f")]
    [InlineData("/mnt/new\nline", "/", "/mnt/new?line")]
    public void HolderPathsAreShownAsTheHolderSeesThem(string path, string root, string expected) =>
        Assert.Equal(expected, MountHolders.AsSeenBy(path, root));

    [Fact]
    public void HoldersDescribeThemselves()
    {
        Assert.Equal("PID 4242 (sleep, PID 7 in its namespace) has /mnt/data/hello.txt open (fd 0)",
            new MountHolder(4242, 7, "sleep", HoldKind.OpenFile, 0, "/mnt/data/hello.txt").ToString());
        Assert.Equal("PID 10 (sh) has its working directory at /mnt/data",
            new MountHolder(10, 10, "sh", HoldKind.WorkingDirectory, null, "/mnt/data").ToString());
        Assert.Equal("PID 11 (app) runs /mnt/data/app", new MountHolder(11, null, "app", HoldKind.Executable, null, "/mnt/data/app").ToString());
    }

    [Fact]
    public void BusyMessageNamesHoldersAndMountsBelowOrSaysWhoElseCouldHoldIt()
    {
        string both = ContainerSession.BusyMessage("/mnt/data", 99, [new MountHolder(5, 2, "sleep", HoldKind.OpenFile, 3, "/mnt/data/x")], ["/mnt/data/sub"]);
        Assert.Equal("'/mnt/data' (mount 99) is busy, so it was not unmounted: PID 5 (sleep, PID 2 in its namespace) has /mnt/data/x open (fd 3); a mount is mounted below it at /mnt/data/sub.", both);
        Assert.Contains("a kernel user holds it", ContainerSession.BusyMessage("/m", 1, [], []));
    }

    [Theory]
    [InlineData(HotplugFailure.ReplaceTargetNotMounted, "ReplaceTargetNotMounted", ErrorCategory.InvalidOperation)]
    [InlineData(HotplugFailure.NotMounted, "NotMounted", ErrorCategory.ObjectNotFound)]
    [InlineData(HotplugFailure.MountChanged, "MountChanged", ErrorCategory.InvalidOperation)]
    [InlineData(HotplugFailure.MountBusy, "MountBusy", ErrorCategory.ResourceBusy)]
    [InlineData(HotplugFailure.UnmountNotVerified, "UnmountNotVerified", ErrorCategory.InvalidResult)]
    public void LifecycleFailuresMapToStableIds(HotplugFailure failure, string id, ErrorCategory category)
    {
        ErrorRecord record = MountErrors.FromHotplug(new HotplugException(failure, "/mnt/x", "message."), "/mnt/x");
        Assert.Equal(id, record.FullyQualifiedErrorId);
        Assert.Equal(category, record.CategoryInfo.Category);
        Assert.False(string.IsNullOrEmpty(record.ErrorDetails.RecommendedAction));
    }

    [Fact]
    public void EveryFeatureHasAVersionANameAndAProbe()
    {
        Assert.Equal(Enum.GetValues<KernelFeature>().Order(), KernelFeatures.All.Order());
        foreach (KernelFeature feature in KernelFeatures.All)
        {
            Assert.Matches(@"^\d+\.\d+$", KernelFeatures.IntroducedIn(feature));
            Assert.NotEqual(feature.ToString(), KernelFeatures.SyscallName(feature));
        }

        // Listed in the order the kernel gained them.
        Assert.Equal(KernelFeatures.All.OrderBy(f => Version.Parse(KernelFeatures.IntroducedIn(f))), KernelFeatures.All);
    }
}
