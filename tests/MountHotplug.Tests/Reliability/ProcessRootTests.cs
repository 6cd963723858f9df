using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;
using Xunit;

namespace MountHotplug.Tests.Reliability;

/// <summary>
/// ContainerMounter keeps the process's root open between hot-plugs (issue 7: an open and a close less per mount) and
/// checks on each call that /proc/PID/root still leads there. A process that changes its root between two hot-plugs of
/// one pipeline must get the second one in its NEW root.
/// </summary>
[Collection(PrivilegedCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ProcessRootTests
{
    [SkippableFact]
    public void AProcessThatChangesItsRootGetsTheNextMountInTheNewRoot()
    {
        using var scenario = Scenario.Start(containers: [], sessions: 0);
        var tree = scenario.Tree;
        string busybox = Busybox.EnsureInstalled();
        string work = Directory.CreateTempSubdirectory("mhp-reroot-").FullName;
        string newRoot = Path.Combine(work, "new");
        string oldTarget = Path.Combine(work, "old-target");
        Directory.CreateDirectory(Path.Combine(newRoot, "srv"));
        Directory.CreateDirectory(oldTarget);
        File.Copy(busybox, Path.Combine(newRoot, "busybox"));
        File.SetUnixFileMode(Path.Combine(newRoot, "busybox"), UnixFileMode.UserRead | UnixFileMode.UserExecute);

        // One PID throughout: unshare execs the shell, which waits for a line and then execs chroot, which execs sleep.
        ChildProcess.Interactive process = ChildProcess.StartInteractive(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", $"echo ready; read line; exec chroot '{newRoot}' /busybox sleep 600"]);
        try
        {
            Assert.Equal("ready", process.Output.ReadLine());
            using ContainerNamespace pinned = ContainerNamespace.Open(process.Id);
            ContainerSession mounter = pinned.Session;

            using SafeMountHandle first = Stage(tree.Data);
            mounter.Attach(first, MountSyscalls.Statx(first), oldTarget, new AttachOptions());
            Assert.Equal(MountSyscalls.Statx(first).MountId, MountIdAt($"/proc/{process.Id}/root{oldTarget}"));

            process.Input.WriteLine("go");
            Assert.True(Poll.Until(() => ReadRoot(process.Id) == newRoot, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10)),
                $"PID {process.Id} did not chroot to {newRoot}: its root is {ReadRoot(process.Id)}");

            using SafeMountHandle second = Stage(tree.Data);
            StatxInfo secondInfo = MountSyscalls.Statx(second);
            AttachResult result = mounter.Attach(second, secondInfo, "/srv", new AttachOptions());

            Assert.Equal("/srv", result.Target);
            Assert.Equal(secondInfo.MountId, MountIdAt($"/proc/{process.Id}/root/srv"));
        }
        finally
        {
            process.Dispose(); // killed before its root is deleted
            Directory.Delete(work, recursive: true);
        }
    }

    private static SafeMountHandle Stage(string source)
    {
        SafeMountHandle mount = MountSyscalls.OpenTree(null, source, OpenTreeFlags.Clone);
        MountSyscalls.MountSetAttr(mount, MountAttributes.None, MountAttributes.None, MountPropagation.Private, recursive: false);
        return mount;
    }

    private static ulong MountIdAt(string path)
    {
        using SafePathHandle handle = MountSyscalls.Open(path, OpenFlags.Path | OpenFlags.Directory);
        return MountSyscalls.Statx(handle).MountId;
    }

    private static string? ReadRoot(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/root").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
