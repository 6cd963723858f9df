using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: which of MOVE_MOUNT_SET_GROUP's conditions failed, in the kernel's order, and its error id.</summary>
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
