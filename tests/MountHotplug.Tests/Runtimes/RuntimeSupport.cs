using System.Security.Cryptography;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>What the runtime fixtures share: the tools check, rootfs copies, waiting for an init, cgroup cleanup.</summary>
public static class RuntimeSupport
{
    /// <summary>
    /// Root and the runtime's tool are needed. tests/run.sh installs every runtime; in CI a missing one is a failure,
    /// elsewhere the test is skipped with the package to install.
    /// </summary>
    public static void Require(string tool, string package)
    {
        Privileged.Require();
        if (File.Exists(tool))
        {
            return;
        }

        string reason = $"{tool} is missing: install the Debian package {package} (tests/run.sh does)";
        if (Privileged.InCi)
        {
            throw new InvalidOperationException($"Runtime test cannot run in CI: {reason}.");
        }

        Skip.If(true, reason);
    }

    public static string RandomName(string prefix) => prefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();

    /// <summary>A private copy of the busybox template rootfs (Busybox.TemplateRootfs) at <paramref name="destination"/>.</summary>
    public static void CopyRootfs(string destination, string? owner = null)
    {
        ChildProcess.RunOrThrow(["cp", "-a", "--", Busybox.TemplateRootfs, destination]);
        if (owner is not null)
        {
            ChildProcess.RunOrThrow(["chown", "-R", "-h", owner, "--", destination]);
        }
    }

    /// <summary>PID 1 of a pid namespace drops SIGTERM until its handler is installed: wait for the trap (kernel-notes N22).</summary>
    public static void WaitForInit(int pid, string what)
    {
        if (!Poll.Until(() => ProcFs.CatchesSignal(pid, ProcFs.SigTerm), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5)))
        {
            throw new InvalidOperationException($"{what}: init PID {pid} did not install its SIGTERM handler within 10 s");
        }
    }

    /// <summary>Runs a daemon fixture's start; on any failure disposes it (which removes what the start made) and rethrows.</summary>
    public static T Launched<T>(T fixture, Action launch) where T : IDisposable
    {
        try
        {
            launch();
            return fixture;
        }
        catch
        {
            fixture.Dispose();
            throw;
        }
    }

    /// <summary>SIGTERM (and SIGCONT, should a test have stopped it), so the daemon removes what it mounted; killed after 30 s.</summary>
    public static void Terminate(System.Diagnostics.Process daemon)
    {
        if (!daemon.HasExited)
        {
            string pid = daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ChildProcess.Run(["kill", "-CONT", pid]);
            ChildProcess.Run(["kill", "-TERM", pid]);
            if (!daemon.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                daemon.Kill(entireProcessTree: true);
                daemon.WaitForExit();
            }
        }

        daemon.Dispose();
    }

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");

    public static void WaitForExit(int pid, TimeSpan timeout) => Poll.Until(() => !IsAlive(pid), timeout, TimeSpan.FromMilliseconds(10));

    /// <summary>rm -rf that stays on one filesystem, so nothing mounted below is ever deleted through.</summary>
    public static void RemoveTree(string path)
    {
        if (Path.Exists(path))
        {
            ChildProcess.Run(["rm", "-rf", "--one-file-system", "--", path]);
        }
    }

    /// <summary>
    /// Removes empty cgroups a runtime left (LXC's lxc.pivot, docker's and podman's parents), deepest first, in every
    /// hierarchy. rmdir only ever removes an empty cgroup, so one still in use by anyone stays.
    /// </summary>
    public static void RemoveEmptyCgroups(params string[] names)
    {
        if (!Directory.Exists("/sys/fs/cgroup"))
        {
            return;
        }

        var hierarchies = new List<string> { "/sys/fs/cgroup" };
        hierarchies.AddRange(Directory.GetDirectories("/sys/fs/cgroup"));
        foreach (string hierarchy in hierarchies)
        {
            foreach (string name in names)
            {
                string dir = Path.Combine(hierarchy, name);
                if (!Directory.Exists(dir) || new FileInfo(dir).LinkTarget is not null)
                {
                    continue;
                }

                foreach (string sub in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(dir))
                {
                    try
                    {
                        Directory.Delete(sub);
                    }
                    catch (IOException)
                    {
                        // In use (by another test run's container, or still populated): not ours to remove.
                    }
                    catch (UnauthorizedAccessException)
                    {
                    }
                }
            }
        }
    }
}
