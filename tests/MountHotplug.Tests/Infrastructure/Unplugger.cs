using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// The unplug step of the race and odd-input tests, kept in this one place: the container unmounts with its own busybox
/// umount, run by a <see cref="ContainerShell"/>, so that these tests depend on the hot-plug side alone (Remove-Mount has
/// tests of its own). A fork and exec costs milliseconds here, so callers hand over every target they have (busybox
/// umount takes several at once) instead of one at a time.
/// </summary>
public sealed class Unplugger : IDisposable
{
    private readonly ContainerShell _shell;

    public Unplugger(SandboxContainer container) => _shell = new ContainerShell(container);

    /// <summary>The shell, for other commands the test runs inside the container.</summary>
    public ContainerShell Shell => _shell;

    /// <summary>Unmounts the top mount at each path (inside the container); throws if any of them is not a mount point.</summary>
    public void Unplug(IReadOnlyCollection<string> containerPaths)
    {
        if (containerPaths.Count == 0)
        {
            return;
        }

        _shell.RunOrThrow("umount " + string.Join(' ', containerPaths.Select(ContainerShell.Quote)));
    }

    public void Dispose() => _shell.Dispose();
}
