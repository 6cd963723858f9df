using Xunit;
using Xunit.Sdk;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// The guard that nearly every privileged test ends with: it must catch a descriptor that stays open, and must not
/// blame a test for one that another thread closes a moment later.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class HostGuardTests
{
    [Fact]
    public void DescriptorLeftOpenFailsTheGuard()
    {
        var guard = new HostGuard();
        using var leaked = File.OpenHandle("/proc/self/status");

        var failure = Assert.Throws<EqualException>(guard.AssertClean);
        Assert.Contains("/proc/", failure.Message);
    }

    [Fact]
    public void DescriptorClosedSoonAfterByAnotherThreadPassesTheGuard()
    {
        var guard = new HostGuard();
        var lingering = File.OpenHandle("/proc/self/status");
        using var closer = new Timer(_ => lingering.Dispose(), null, dueTime: 200, period: Timeout.Infinite);

        guard.AssertClean();
        Assert.True(lingering.IsClosed);
    }
}
