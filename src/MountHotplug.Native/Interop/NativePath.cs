using System.Text;

namespace MountHotplug.Native;

internal static class NativePath
{
    /// <summary>UTF-8 with a terminating NUL; a NUL inside the string would silently cut the path, so it is refused.</summary>
    internal static byte[] ToNullTerminated(string path)
    {
        if (path.Contains('\0'))
        {
            throw new ArgumentException($"The path '{path.Replace("\0", "\\0")}' contains a NUL character.", nameof(path));
        }

        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, 0, path.Length, bytes, 0);
        return bytes;
    }
}
