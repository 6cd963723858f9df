namespace MountHotplug.Tests.Infrastructure;

/// <summary>A host directory with a file in it, to stage; removed at the end.</summary>
public sealed class TempTree : IDisposable
{
    public TempTree(string content = "hello from the host\n")
    {
        Root = Directory.CreateTempSubdirectory("mhp-src-").FullName;
        Data = Path.Combine(Root, "data");
        Directory.CreateDirectory(Data);
        File.WriteAllText(Path.Combine(Data, "hello.txt"), content);
        SingleFile = Path.Combine(Root, "single.conf");
        File.WriteAllText(SingleFile, "key=value\n");
        Content = content;
    }

    public string Root { get; }

    /// <summary>A directory holding hello.txt.</summary>
    public string Data { get; }

    /// <summary>A regular file, for file bind mounts.</summary>
    public string SingleFile { get; }

    public string Content { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
