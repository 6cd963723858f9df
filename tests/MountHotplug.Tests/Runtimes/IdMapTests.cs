using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>Pure logic: a user namespace's uid_map and gid_map parsed, and ids mapped both ways through them.</summary>
public sealed class IdMapTests
{
    private static readonly IReadOnlyList<IdMapRange> Unprivileged = IdMaps.ParseMap("         0     100000      65536\n");

    [Fact]
    public void ParsesAndMapsBothWays()
    {
        Assert.Equal(new[] { new IdMapRange(0, 100000, 65536) }, Unprivileged);
        Assert.Equal(100000u, IdMaps.ToHost(Unprivileged, 0));
        Assert.Equal(165535u, IdMaps.ToHost(Unprivileged, 65535));
        Assert.Null(IdMaps.ToHost(Unprivileged, 65536));
        Assert.Equal(0u, IdMaps.FromHost(Unprivileged, 100000));
        Assert.Null(IdMaps.FromHost(Unprivileged, 0));
        Assert.Equal((100000u, 100000u), new IdMaps(Unprivileged, Unprivileged).RootOnHost);
    }

    [Fact]
    public void SeveralRangesAndTheIdentityMap()
    {
        var map = IdMaps.ParseMap("0 100000 1000\n1000 1000 1\n1001 101001 64535\n");
        Assert.Equal(1000u, IdMaps.ToHost(map, 1000));
        Assert.Equal(101001u, IdMaps.ToHost(map, 1001));
        Assert.Equal(1000u, IdMaps.FromHost(map, 1000));
        Assert.True(IdMaps.IsIdentity(IdMaps.ParseMap("0 0 4294967295\n")));
        Assert.False(IdMaps.IsIdentity(map));
        Assert.Null(new IdMaps(IdMaps.ParseMap("1 100001 10"), map).RootOnHost);
    }

    [Fact]
    public void ABrokenLineIsAnError() => Assert.Throws<FormatException>(() => IdMaps.ParseMap("0 100000\n"));
}
