using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// An image file attached to a loop device (losetup --find --show), optionally formatted as ext4 and filled with files
/// (mkfs.ext4 -d). Dispose detaches it (a device still mounted somewhere is marked autoclear by the kernel and goes
/// away with its last user) and deletes the image. Image directories are named /tmp/mhp-img-TAG-*, with the tag
/// tests/run.sh sets for its run (MHP_TEST_LOOP_TAG); after the run it detaches what a killed test left with that tag.
/// </summary>
public sealed class LoopDevice : IDisposable
{
    private static readonly string Prefix = "mhp-img-" + (Environment.GetEnvironmentVariable("MHP_TEST_LOOP_TAG") is { Length: > 0 } tag && tag.All(char.IsAsciiLetterOrDigit) ? tag : "manual") + "-";

    private LoopDevice(string directory, string image, string device)
    {
        Directory = directory;
        ImagePath = image;
        Device = device;
    }

    /// <summary>"/dev/loop3".</summary>
    public string Device { get; }

    public string ImagePath { get; }

    private string Directory { get; }

    /// <summary>An ext4 filesystem holding <paramref name="files"/> (relative path → content).</summary>
    public static LoopDevice CreateExt4(IReadOnlyDictionary<string, string> files, int sizeMiB = 16, string label = "mhp-test")
    {
        string dir = System.IO.Directory.CreateTempSubdirectory(Prefix).FullName;
        string content = Path.Combine(dir, "content");
        System.IO.Directory.CreateDirectory(content);
        foreach ((string name, string text) in files)
        {
            string path = Path.Combine(content, name);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }

        string image = Path.Combine(dir, "fs.img");
        try
        {
            MakeImage(image, sizeMiB);
            Run("mkfs.ext4", "-q", "-F", "-L", label, "-d", content, image);
            return Attach(dir, image);
        }
        catch
        {
            System.IO.Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>A loop device over an image of zeros: no filesystem at all.</summary>
    public static LoopDevice CreateBlank(int sizeMiB = 4)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory(Prefix).FullName;
        string image = Path.Combine(dir, "blank.img");
        try
        {
            MakeImage(image, sizeMiB);
            return Attach(dir, image);
        }
        catch
        {
            System.IO.Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Whether <paramref name="device"/> is still attached to a test image, waiting up to <paramref name="wait"/> for
    /// it to go (a namespace that held it is torn down a moment after its last process exits).
    /// </summary>
    public static bool StillAttached(string device, TimeSpan wait) =>
        !Poll.Until(() => !Run("losetup", "-l", "-n", "-O", "NAME,BACK-FILE").Split('\n')
            .Any(line => line.StartsWith(device + " ", StringComparison.Ordinal) && line.Contains("mhp-img-", StringComparison.Ordinal)),
            wait, TimeSpan.FromMilliseconds(50));

    public void Dispose()
    {
        try
        {
            Run("losetup", "-d", Device);
        }
        catch (InvalidOperationException)
        {
            // Already detached.
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static void MakeImage(string image, int sizeMiB)
    {
        using var stream = new FileStream(image, FileMode.CreateNew);
        stream.SetLength(sizeMiB * 1024L * 1024L);
    }

    private static LoopDevice Attach(string dir, string image)
    {
        string device = Run("losetup", "--find", "--show", image).Trim();
        if (!device.StartsWith("/dev/loop", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"losetup gave '{device}'");
        }

        return new LoopDevice(dir, image, device);
    }

    /// <summary>Runs a host tool (losetup, mkfs.ext4: tests/run.sh installs them) and returns its stdout.</summary>
    private static string Run(params string[] argv) => ChildProcess.RunOrThrow(argv);
}
