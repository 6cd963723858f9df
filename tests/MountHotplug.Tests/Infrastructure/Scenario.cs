using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using MountHotplug.Sandbox;
using Xunit;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// What a privileged test stands on, made in one call and taken down in one Dispose: root (<see cref="Privileged.Require"/>,
/// so a laptop without it skips), the sandbox containers, the PowerShell sessions and the temporary tree the test asks for,
/// and whatever else the test hands over with <see cref="Own{T}"/>. Dispose is where no privileged test can skip the check
/// of the host: <see cref="HostGuard"/> asserts that the host's and this process's mount tables, the mount namespace of
/// every thread and the open descriptors are as they were when the scenario began; then everything is taken down, and the
/// host's and this process's mount tables must be as they were before the scenario made anything.
/// </summary>
/// <remarks>
/// <para><see cref="Start(SandboxKind, int, string?)"/> begins at once: the usual test. A test whose subject must exist
/// before the snapshot (a container of a real runtime, whose daemon mounts in this process's namespace while it runs)
/// calls <see cref="Prepare(SandboxKind, int, string?)"/>, hands it over with <see cref="Own{T}"/>, and calls
/// <see cref="Begin"/>.</para>
/// <para>Anything the test makes after the snapshot and keeps in the session (a $ct it never disposes) counts as left
/// behind: a test disposes what it made, the scenario disposes what it was given.</para>
/// </remarks>
public sealed class Scenario : IDisposable
{
    private readonly string _hostTableBefore = ProcessState.HostMountTable;
    private readonly string _ownTableBefore = ProcessState.OwnMountTable;
    private readonly List<SandboxContainer> _containers = [];
    private readonly List<PowerShellSession> _sessions = [];
    private readonly List<IDisposable> _owned = [];
    private readonly List<TempTree> _trees = [];
    private HostGuard? _guard;
    private bool _disposed;

    private Scenario()
    {
    }

    /// <summary>The sandbox containers, in the order asked for.</summary>
    public IReadOnlyList<SandboxContainer> Containers => _containers;

    /// <summary>The first (usually the only) container.</summary>
    public SandboxContainer Container => _containers.Count > 0 ? _containers[0] : throw new InvalidOperationException("this scenario started no container");

    public IReadOnlyList<PowerShellSession> Sessions => _sessions;

    /// <summary>The first (usually the only) session.</summary>
    public PowerShellSession Session => _sessions.Count > 0 ? _sessions[0] : throw new InvalidOperationException("this scenario started no PowerShell session");

    /// <summary>A host directory with data/hello.txt and single.conf, to stage.</summary>
    public TempTree Tree => _trees[0];

    /// <summary>One container of <paramref name="kind"/>, <paramref name="sessions"/> sessions and a tree; the snapshot is taken.</summary>
    public static Scenario Start(SandboxKind kind = SandboxKind.PivotRoot, int sessions = 1, string? treeContent = null) =>
        Prepare(kind, sessions, treeContent).Begin();

    /// <summary>A container of each kind in <paramref name="containers"/> (none for []), the sessions and a tree; the snapshot is taken.</summary>
    public static Scenario Start(IReadOnlyList<SandboxKind> containers, int sessions = 1, string? treeContent = null) =>
        Prepare(containers, sessions, treeContent).Begin();

    /// <summary>As <see cref="Start(SandboxKind, int, string?)"/>, but the test finishes the setup and calls <see cref="Begin"/>.</summary>
    public static Scenario Prepare(SandboxKind kind = SandboxKind.PivotRoot, int sessions = 1, string? treeContent = null) =>
        Prepare([kind], sessions, treeContent);

    /// <summary>As <see cref="Start(IReadOnlyList{SandboxKind}, int, string?)"/>, but the test finishes the setup and calls <see cref="Begin"/>.</summary>
    public static Scenario Prepare(IReadOnlyList<SandboxKind> containers, int sessions = 1, string? treeContent = null)
    {
        Privileged.Require();
        var scenario = new Scenario();
        try
        {
            scenario._trees.Add(treeContent is null ? new TempTree() : new TempTree(treeContent));
            foreach (SandboxKind kind in containers)
            {
                scenario._containers.Add(SandboxContainer.Start(kind));
            }

            for (int i = 0; i < sessions; i++)
            {
                scenario._sessions.Add(new PowerShellSession());
            }

            return scenario;
        }
        catch
        {
            scenario.TearDown(new List<Exception>());
            throw;
        }
    }

    /// <summary>Takes the snapshot that Dispose compares with: call it once the setup is done.</summary>
    public Scenario Begin()
    {
        if (_guard is not null)
        {
            throw new InvalidOperationException("the scenario has begun already");
        }

        _guard = new HostGuard();
        return this;
    }

    /// <summary>Another host tree, removed with the scenario.</summary>
    public TempTree NewTree(string content)
    {
        var tree = new TempTree(content);
        _trees.Add(tree);
        return tree;
    }

    /// <summary>
    /// Hands <paramref name="resource"/> over: it is disposed after the check and after the sandbox containers (so a loop
    /// device goes once no namespace holds it), in the reverse order of handing over (a container before its daemon).
    /// </summary>
    public T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;

        // A test that failed (or was skipped) is leaving through this Dispose with its exception: what is found here must
        // not replace that exception, which is what the test is about.
        bool leavingWithAnException = Marshal.GetExceptionPointers() != IntPtr.Zero;
        var failures = new List<Exception>();
        if (_guard is not null)
        {
            Collect(failures, _guard.AssertClean);
        }
        else if (!leavingWithAnException)
        {
            failures.Add(new InvalidOperationException("the scenario was prepared but never begun: call Begin() when the setup is done, so that the host is checked"));
        }

        TearDown(failures);
        Collect(failures, () =>
        {
            Assert.Equal(_hostTableBefore, ProcessState.HostMountTable);
            Assert.Equal(_ownTableBefore, ProcessState.OwnMountTable);
        });

        if (failures.Count == 0)
        {
            return;
        }

        if (leavingWithAnException)
        {
            Console.Error.WriteLine($"Scenario: the test failed, and its host check found more:\n{string.Join("\n", failures.Select(f => f.Message))}");
            return;
        }

        if (failures.Count == 1)
        {
            ExceptionDispatchInfo.Capture(failures[0]).Throw();
        }

        throw new AggregateException("the host check and the teardown of the scenario failed", failures);
    }

    private void TearDown(List<Exception> failures)
    {
        foreach (IDisposable resource in Enumerable.Reverse<IDisposable>(_sessions)
            .Concat(Enumerable.Reverse<IDisposable>(_containers))
            .Concat(Enumerable.Reverse(_owned))
            .Concat(_trees))
        {
            Collect(failures, resource.Dispose);
        }
    }

    private static void Collect(List<Exception> failures, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            failures.Add(e);
        }
    }
}
