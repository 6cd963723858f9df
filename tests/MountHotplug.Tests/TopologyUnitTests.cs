using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic of the mount model: options strings, export from a table, JSON, validation, the canonical description.</summary>
public sealed class TopologyUnitTests
{
    private const string Table = """
        20 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        30 20 0:40 / /t rw,relatime - tmpfs top rw,size=1024k
        31 30 0:41 / /t/a rw,nosuid,relatime shared:7 - tmpfs fsA rw
        32 30 0:41 / /t/b ro,noatime shared:7 - tmpfs fsA rw
        33 31 0:41 /sub /t/a/c rw master:7 - tmpfs fsA rw
        34 30 0:42 / /t/d rw,relatime unbindable - tmpfs d rw
        35 34 0:43 / /t/d rw,relatime shared:9 master:3 - tmpfs stacked rw
        40 20 0:44 / /other rw,relatime shared:7 - tmpfs o rw
        """;

    [Theory]
    [InlineData("rw,relatime", MountAttributes.None)]
    [InlineData("ro,nosuid,nodev,noexec,relatime", MountAttributes.ReadOnly | MountAttributes.NoSuid | MountAttributes.NoDev | MountAttributes.NoExec)]
    [InlineData("rw,noatime,nodiratime", MountAttributes.NoAtime | MountAttributes.NoDirAtime)]
    [InlineData("rw", MountAttributes.StrictAtime)]
    [InlineData("rw,relatime,nosymfollow,idmapped", MountAttributes.NoSymFollow | MountAttributes.IdMap)]
    public void OptionsRoundTripThroughAttributes(string options, MountAttributes attributes)
    {
        Assert.Equal(attributes, MountOptions.Parse(options));
        Assert.Equal(options, MountOptions.Format(attributes));
    }

    [Fact]
    public void ExportTakesTheSubtreeWithLocalLabels()
    {
        var table = MountTable.FromMountInfo(Table, 5);
        MountTopology topology = MountTopology.Export(table, "/t/");

        Assert.Equal("/t", topology.Root);
        Assert.Equal(new[] { "", "a", "b", "a/c", "d", "d" }, topology.Mounts.Select(m => m.Path));
        Assert.Equal(new int?[] { null, 1, 1, 2, 1, 5 }, topology.Mounts.Select(m => m.Parent));
        Assert.Equal(new int?[] { null, 1, 1, null, null, 2 }, topology.Mounts.Select(m => m.PeerGroup));
        Assert.Equal(new int?[] { null, null, null, 1, null, 3 }, topology.Mounts.Select(m => m.Master));
        Assert.Equal(new[] { 1, 2, 2, 2, 3, 4 }, topology.Mounts.Select(m => m.Superblock));
        Assert.True(topology.Mounts[4].Unbindable);
        Assert.Equal(2, topology.PeerGroups().Count);
    }

    [Fact]
    public void JsonRoundTripsAndTheDescriptionIgnoresKernelIds()
    {
        MountTopology topology = MountTopology.Export(MountTable.FromMountInfo(Table, 5), "/t");
        MountTopology again = MountTopology.Parse(topology.ToJson());
        // Every field the writer writes is read back: the reread topology writes the same text.
        Assert.Equal(6, again.Mounts.Count);
        Assert.Equal(topology.ToJson(), again.ToJson());

        // Other kernel ids, another place, another device numbering: the same layout.
        string renumbered = Table.Replace("shared:7", "shared:70").Replace("master:7", "master:70").Replace("0:41", "0:99").Replace(" /t", " /elsewhere");
        MountTopology moved = MountTopology.Export(MountTable.FromMountInfo(renumbered, 6), "/elsewhere");
        Assert.Equal(topology.Describe(), moved.Describe());
        Assert.Equal(
            ".#0 parent=- tmpfs source=top root=/ sb=s1 rw,relatime super=rw,size=1024k peer=- master=-\n"
            + "a#0 parent=.#0 tmpfs source=fsA root=/ sb=s2 rw,nosuid,relatime super=rw peer=g1 master=-\n"
            + "a/c#0 parent=a#0 tmpfs source=fsA root=/sub sb=s2 rw super=rw peer=- master=g1\n"
            + "b#0 parent=.#0 tmpfs source=fsA root=/ sb=s2 ro,noatime super=rw peer=g1 master=-\n"
            + "d#0 parent=.#0 tmpfs source=d root=/ sb=s3 rw,relatime super=rw peer=- master=- unbindable\n"
            + "d#1 parent=d#0 tmpfs source=stacked root=/ sb=s4 rw,relatime super=rw peer=g2 master=g3\n",
            topology.Describe());

        // A peer leaving its group is a different layout.
        MountTopology split = MountTopology.Export(MountTable.FromMountInfo(Table.Replace("ro,noatime shared:7", "ro,noatime"), 5), "/t");
        Assert.False(topology.StructurallyEquals(split));
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("""{ "format": "other/2", "mounts": [] }""", "Unknown mount topology format")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "", "fileSystemType": "tmpfs" }, { "id": 1, "path": "a", "fileSystemType": "tmpfs" } ] }""", "appears twice")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "../etc", "fileSystemType": "tmpfs" } ] }""", "'..'")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "/abs", "fileSystemType": "tmpfs" } ] }""", "relative")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "a", "fileSystemType": "" } ] }""", "lacks a filesystem type")]
    [InlineData("""{ "mounts": [ { "id": 2, "parent": 1, "path": "a", "fileSystemType": "tmpfs" } ] }""", "does not exist")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "x", "fileSystemType": "tmpfs" }, { "id": 2, "parent": 1, "path": "y", "fileSystemType": "tmpfs" } ] }""", "not above it")]
    [InlineData("""{ "mounts": [ { "id": 1, "parent": 2, "path": "a", "fileSystemType": "tmpfs" }, { "id": 2, "parent": 1, "path": "a", "fileSystemType": "tmpfs" } ] }""", "its own ancestor")]
    [InlineData("""{ "mounts": [ { "id": 1, "path": "a", "fileSystemType": "tmpfs", "peerGroup": 1, "master": 2 }, { "id": 2, "path": "b", "fileSystemType": "tmpfs", "peerGroup": 1 } ] }""", "different masters")]
    public void ParseRefusesWhatCannotBeALayout(string json, string reason)
    {
        var error = Assert.Throws<FormatException>(() => MountTopology.Parse(json));
        Assert.Contains(reason, error.Message);
    }
}
