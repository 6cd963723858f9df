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

    /// <summary>
    /// Unmounts the top mount at each path (inside the container), as the container's own admin would: a plain umount,
    /// not a lazy one, so a descriptor this process leaked on the mount still fails the test. Throws if a path is not a
    /// mount point or stays busy for a second.
    /// </summary>
    /// <remarks>
    /// A process inside that is looking up a path through the mount (a hostile container's `[ -e t1 ]` loop) holds a
    /// reference to it for the length of that system call, and umount(2) then says EBUSY. That is the container's doing
    /// and over in microseconds, so a busy mount is tried again; one still busy after a second is held by someone.
    /// </remarks>
    public void Unplug(IReadOnlyCollection<string> containerPaths)
    {
        if (containerPaths.Count == 0)
        {
            return;
        }

        // A subshell, so that giving up ends the loop and not the container shell this runs in.
        _shell.RunOrThrow("( for p in " + string.Join(' ', containerPaths.Select(ContainerShell.Quote)) + "; do n=0;"
            + " until e=$(umount \"$p\" 2>&1); do"
            + " case \"$e\" in *busy*) [ $n -lt 50 ] || { echo \"$e\"; exit 1; };; *) echo \"$e\"; exit 1;; esac;"
            + " n=$((n+1)); usleep 20000; done; done )");
    }

    public void Dispose() => _shell.Dispose();
}
