using MountHotplug.Sandbox;
using MountHotplug.Tests.Runtimes;
using Xunit;
using Xunit.Abstractions;

namespace MountHotplug.Tests.Seal;

/// <summary>tests/seal/seal_spike.c as the tests use it: built static, copied into a container, its attack mode run there.</summary>
internal static class SealSpike
{
    // Every attempt on a sealed mount to get write access: refused by the lock bits (EPERM) or by read-only (EROFS).
    private static readonly string[] SealedRefusals =
    [
        "write hello.txt as mounted: EROFS",
        "mount(MS_REMOUNT) rw: EPERM",
        "mount(MS_REMOUNT|MS_BIND) rw: EPERM",
        "mount_setattr(clear RDONLY): EPERM",
        "mount_setattr(clear RDONLY|NOSUID|NODEV, recursive): EPERM",
        "write hello.txt after the remounts: EROFS",
        "bind to scratch: ok",
        "bind: mount(MS_REMOUNT|MS_BIND) rw: EPERM",
        "bind: mount_setattr(clear RDONLY): EPERM",
        "write hello.txt through the bind: EROFS",
        "open_tree(CLONE): ok",
        "detached clone: mount_setattr(clear RDONLY): EPERM",
    ];

    internal static string Build(string directory)
    {
        string spike = Path.Combine(directory, "seal_spike");
        ChildProcess.RunOrThrow(["cc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", spike,
            Path.Combine(AppContext.BaseDirectory, "seal", "seal_spike.c")]);
        return spike;
    }

    internal static void CopyInto(LxcContainer lxc, string spike)
    {
        string inside = Path.Combine(lxc.RootfsPath, "bin", "seal_spike");
        File.Copy(spike, inside);
        ChildProcess.RunOrThrow(["chown", $"{LxcContainer.IdBase}:{LxcContainer.IdBase}", inside]);
    }

    /// <summary>Runs "seal_spike attack DIR" as the container's root: attempt ("sealed mount_setattr(clear RDONLY)") to result ("EPERM", "ok").</summary>
    internal static Dictionary<string, string> Attack(LxcContainer lxc, string directory, ITestOutputHelper output)
    {
        ExecResult attack = lxc.Exec("/bin/seal_spike", "attack", directory);
        output.WriteLine(attack.StandardOutput + attack.StandardError);
        Assert.True(attack.ExitCode == 0, attack.StandardError);
        return attack.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(
            l => l[..l.LastIndexOf(": ", StringComparison.Ordinal)],
            l => l[(l.LastIndexOf(": ", StringComparison.Ordinal) + 2)..].Split(' ')[0]);
    }

    internal static void AssertSealed(Dictionary<string, string> outcome, string who)
    {
        foreach (string refusal in SealedRefusals)
        {
            int colon = refusal.LastIndexOf(": ", StringComparison.Ordinal);
            string attempt = who + " " + refusal[..colon];
            Assert.True(outcome.TryGetValue(attempt, out string? got), $"no line for '{attempt}'");
            Assert.True(refusal[(colon + 2)..] == got, $"{attempt}: expected {refusal[(colon + 2)..]}, got {got}");
        }
    }

    /// <summary>The control (same staging, not sealed) is made writable by the same attempts: the refusals are the seal's.</summary>
    internal static void AssertControlWritable(Dictionary<string, string> outcome)
    {
        Assert.Equal("EPERM", outcome["control mount(MS_REMOUNT) rw"]); // a superblock remount needs the filesystem's owner
        Assert.Equal("ok", outcome["control mount(MS_REMOUNT|MS_BIND) rw"]);
        Assert.Equal("ok", outcome["control mount_setattr(clear RDONLY)"]);
        Assert.Equal("ok", outcome["control write hello.txt after the remounts"]);
        Assert.Equal("ok", outcome["control bind: mount_setattr(clear RDONLY)"]);
        Assert.Equal("ok", outcome["control detached clone: mount_setattr(clear RDONLY)"]);
    }

    /// <summary>
    /// What a seal does not stop: the top of a sealed mount can be unmounted (plain and lazy) and moved, and stays
    /// locked read-only after the move (lock_mnt_tree leaves the root of the copied tree without MNT_LOCKED).
    /// </summary>
    internal static void AssertTopCanBeRemoved(Dictionary<string, string> outcome)
    {
        Assert.Equal("ok", outcome["sealed-umount umount2(0)"]);
        Assert.Equal("ok", outcome["sealed-lazy umount2(MNT_DETACH)"]);
        Assert.Equal("ok", outcome["sealed-move mount(MS_MOVE)"]);
        Assert.Equal("EPERM", outcome["sealed-move moved: mount(MS_REMOUNT|MS_BIND) rw"]);
        Assert.Equal("EROFS", outcome["sealed-move write hello.txt after the move"]);
    }
}
