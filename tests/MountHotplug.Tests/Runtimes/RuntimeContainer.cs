using MountHotplug.Sandbox;
using Xunit;

namespace MountHotplug.Tests.Runtimes;

/// <summary>A running container of a real runtime, stopped and removed with everything it made on Dispose.</summary>
public abstract class RuntimeContainer : IDisposable
{
    protected RuntimeContainer(string name) => Name = name;

    public string Name { get; }

    /// <summary>Host PID of the container's init.</summary>
    public int Pid { get; protected set; }

    /// <summary>The rootfs on the host.</summary>
    public abstract string RootfsPath { get; }

    /// <summary>Runs argv inside the container with the runtime's own exec command.</summary>
    public abstract ExecResult Exec(params string[] argv);

    /// <summary>
    /// Finishes a fixture's start: <paramref name="start"/> starts the container and returns its init's host PID, then the
    /// init is waited for until it takes SIGTERM (so that Dispose can stop it). On any failure the container is disposed.
    /// </summary>
    protected static T Started<T>(T container, Func<int> start) where T : RuntimeContainer
    {
        try
        {
            container.Pid = start();
            RuntimeSupport.WaitForInit(container.Pid, container.ToString());
            return container;
        }
        catch
        {
            container.Dispose();
            throw;
        }
    }

    public string ExecOrThrow(params string[] argv)
    {
        ExecResult r = Exec(argv);
        Assert.True(r.ExitCode == 0, $"`{string.Join(' ', argv)}` in {Name} exited with {r.ExitCode}: {r.StandardError}");
        return r.StandardOutput;
    }

    public void Dispose()
    {
        Stop();
        GC.SuppressFinalize(this);
    }

    protected abstract void Stop();

    public override string ToString() => $"{GetType().Name} {Name} (PID {Pid})";
}
