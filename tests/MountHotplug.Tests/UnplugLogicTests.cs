using System.Management.Automation;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>Pure logic: what holds a busy mount and how that is said, the unplug's error ids, the kernel feature table.</summary>
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
