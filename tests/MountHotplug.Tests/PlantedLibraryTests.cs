using System.Runtime.InteropServices;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests;

/// <summary>
/// kernel-notes N7: a thread inside a container's mount namespace resolves paths in the container's files, so a library
/// first loaded there would be the container's. The session keeps such a thread between calls; this plants a library at
/// every path the runtime loads native code from, inside a container's root, runs the session's operations many times
/// over one kept thread, and checks that none of the planted files was ever loaded.
/// </summary>
[Collection(PrivilegedCollection.Name)]
public sealed class PlantedLibraryTests
{
    private const string Marker = "planted-library-was-loaded";

    // A constructor that leaves a file at the root of whatever filesystem view the loading thread has.
    private const string PlantedSource = """
        #include <fcntl.h>
        #include <unistd.h>
        __attribute__((constructor)) static void planted(void) {
            int fd = open("/planted-library-was-loaded", O_CREAT | O_WRONLY, 0644);
            if (fd >= 0) close(fd);
        }
        """;

    /// <summary>The native libraries the runtime has loaded or may load: those mapped now, and every one beside them.</summary>
    private static IReadOnlyList<string> NativeLibraryPaths()
    {
        var mapped = File.ReadAllLines("/proc/self/maps")
            .Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length == 6 && f[5].StartsWith('/') && f[5].Contains(".so", StringComparison.Ordinal))
            .Select(f => f[5].Trim())
            .Distinct()
            .ToList();
        string framework = RuntimeEnvironment.GetRuntimeDirectory();
        var beside = mapped.Select(Path.GetDirectoryName).Append(framework).Distinct()
            .SelectMany(d => Directory.EnumerateFiles(d!).Where(f => Path.GetFileName(f).Contains(".so", StringComparison.Ordinal)));
        return mapped.Concat(beside).Distinct().ToList();
    }

    [SkippableFact]
    public void NothingIsLoadedOnAKeptNamespaceThread()
    {
        using var scenario = Scenario.Start(sessions: 0);
        var (container, tree) = (scenario.Container, scenario.Tree);

        string planted = Path.Combine(tree.Root, "planted.so");
        File.WriteAllText(Path.Combine(tree.Root, "planted.c"), PlantedSource);
        ExecResult cc = ChildProcess.Run(["cc", "-shared", "-fPIC", "-o", planted, Path.Combine(tree.Root, "planted.c")]);
        Assert.True(cc.ExitCode == 0, cc.StandardError);

        IReadOnlyList<string> libraries = NativeLibraryPaths();
        Assert.Contains(libraries, l => l.EndsWith("libSystem.Native.so", StringComparison.Ordinal));
        var plantedInodes = new HashSet<ulong>();
        foreach (string library in libraries)
        {
            string inContainer = container.RootfsPath + library;
            Directory.CreateDirectory(Path.GetDirectoryName(inContainer)!);
            File.Copy(planted, inContainer, overwrite: true);
            Assert.Equal(0, MountSyscalls.TryStatxPath(inContainer, uniqueMountId: false, out StatxInfo info));
            plantedInodes.Add(info.Inode);
        }

        string markerInContainer = Path.Combine(container.RootfsPath, Marker);
        using (ContainerNamespace ns = ContainerNamespace.Open(container.Pid))
        {
            ContainerSession session = ns.Session;
            var traces = new List<string>();
            int thread = 0;
            for (int i = 0; i < 40; i++)
            {
                using StagedMount staged = StagedMount.Clone(tree.Data, new CloneOptions { Attributes = MountAttributes.ReadOnly });
                session.Attach(staged, $"/planted/m{i % 4}", new AttachOptions { CreateTarget = true, Replace = i >= 4 }, traces.Add);
                thread = thread == 0 ? session.WorkerThreadId : thread;
                Assert.Equal(thread, session.WorkerThreadId);
                using (MountPoint point = session.OpenMountPoint($"/planted/m{i % 4}"))
                {
                    point.SetAttributes(MountAttributes.NoExec, 0, MountPropagation.Private, recursive: false, traces.Add);
                }

                session.ReadMountTable(traces.Add);
            }

            for (int i = 0; i < 4; i++)
            {
                session.Unmount($"/planted/m{i}", lazy: false, trace: traces.Add);
            }

            Assert.NotEmpty(traces);
        }

        Assert.False(File.Exists(markerInContainer), "a planted library's constructor ran: native code was loaded from the container's files");
        // A mapping names its file's inode (the fifth field), whatever path this thread's view gives it.
        var mappedInodes = File.ReadAllLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 5).Select(f => ulong.Parse(f[4], System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        Assert.DoesNotContain(plantedInodes, mappedInodes.Contains);
    }
}
