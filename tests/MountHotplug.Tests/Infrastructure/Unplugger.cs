using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// The unplug step of the reliability tests, kept in this one place: the module has no Remove-Mount yet, so the
/// container unmounts with its own busybox umount, run by a <see cref="ContainerShell"/>. When Remove-Mount exists,
/// <see cref="Unplug"/> is the only method to change. A fork and exec costs milliseconds here, so callers hand over
/// every target they have (busybox umount takes several at once) instead of one at a time.
/// </summary>
public sealed class Unplugger : IDisposable
{
    private readonly ContainerShell _shell;

    public Unplugger(SandboxContainer container) => _shell = new ContainerShell(container);

    /// <summary>How many mounts have been unplugged.</summary>
    public int Unplugged { get; private set; }

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
        Unplugged += containerPaths.Count;
    }

    public void Dispose() => _shell.Dispose();
}
