using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>The sandbox containers the other tests stand on.</summary>
[Collection(PrivilegedCollection.Name)]
public sealed class SandboxTests
{
    [SkippableFact]
    public void DisposeDeletesARootfsHoldingAPathLongerThanPathMaxOnTheHost()
    {
        // A container may hold a path of 4,095 bytes; on the host, below the rootfs, that is more than PATH_MAX, and
        // .NET's recursive delete threw ArgumentException (and at process exit, crashed the test host).
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        var container = SandboxContainer.Start(); // the test's subject: it disposes it
        string directory = Path.GetDirectoryName(container.RootfsPath)!;
        string deep = "/mnt/" + string.Join('/', Enumerable.Repeat(new string('d', 250), 16)) + "/" + new string('e', 69);
        Assert.Equal(4090, deep.Length);
        container.ExecOrThrow("mkdir", "-p", deep);

        container.Dispose();

        Assert.False(Directory.Exists(directory));
    }
}
