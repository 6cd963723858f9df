using System.Text;

namespace MountHotplug;

internal static class NativePath
{
    // Throws on a lone surrogate instead of writing U+FFFD, which would name another file.
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// UTF-8 with a terminating NUL. A NUL inside the string would silently cut the path and a lone surrogate would
    /// silently become U+FFFD, so both are refused; callers check with TargetPath.TextProblem first, this is the fence.
    /// </summary>
    internal static byte[] ToNullTerminated(string path)
    {
        if (TargetPath.TextProblem(path) is { } problem)
        {
            throw new ArgumentException($"The path '{path.Replace("\0", "\\0")}' {problem}.", nameof(path));
        }

        byte[] bytes = new byte[Strict.GetByteCount(path) + 1];
        Strict.GetBytes(path, 0, path.Length, bytes, 0);
        return bytes;
    }
}
