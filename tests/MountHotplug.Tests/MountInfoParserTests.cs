using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: /proc/PID/mountinfo lines parsed, escapes undone, malformed lines refused.</summary>
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
