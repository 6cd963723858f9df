using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>
/// One real LXD daemon for the class (its start, image import and three launches take most of a minute): an unprivileged
/// and a privileged container in the default project and one in a second project. Started on first use, so a host without
/// LXD skips (outside CI) instead of failing in the fixture; xunit disposes it after the class, also when a test failed.
/// </summary>
public sealed class LxdFixture : IDisposable
{
    private LxdDaemon? _daemon;
    private readonly List<LxdContainer> _containers = new();
    private string? _mountsBefore;

    public LxdDaemon Daemon => Started()._daemon!;

    public LxdContainer Unprivileged => Started()._containers[0];

    public LxdContainer Privileged => Started()._containers[1];

    public LxdContainer InProject => Started()._containers[2];

    public void Dispose()
    {
        foreach (LxdContainer container in _containers)
        {
            container.Dispose();
        }

        _daemon?.Dispose();
        if (_mountsBefore is not null)
        {
            Assert.Equal(_mountsBefore, ProcessState.OwnMountTable);
        }
    }

    private LxdFixture Started()
    {
        RuntimeSupport.Require(LxdDaemon.Daemon, LxdDaemon.Package);
        if (_daemon is null)
        {
            _mountsBefore = ProcessState.OwnMountTable;
            _daemon = LxdDaemon.Start();
            _daemon.CreateProject("mhpweb");
            _containers.Add(LxdContainer.Start(_daemon, "default", RuntimeSupport.RandomName("mhp-lxdu-"), privileged: false));
            _containers.Add(LxdContainer.Start(_daemon, "default", RuntimeSupport.RandomName("mhp-lxdp-"), privileged: true));
            _containers.Add(LxdContainer.Start(_daemon, "mhpweb", RuntimeSupport.RandomName("mhp-lxdw-"), privileged: false));
        }

        return this;
    }
}
