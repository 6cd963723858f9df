using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: a target path inside a container, split into names or refused with a reason.</summary>
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
