namespace MountHotplug;

/// <summary>Validation and splitting of a path inside a container. Pure logic: no system calls.</summary>
public static class TargetPath
{
    /// <summary>Linux PATH_MAX including the terminating NUL.</summary>
    public const int MaxLength = 4095;

    /// <summary>
    /// Splits an absolute path inside a container into its components, dropping empty and "." segments.
    /// Returns null and a reason when the path cannot be a hot-plug target: relative, empty, "/", with ".."
    /// (its meaning would depend on symlinks the container controls), with a NUL or a lone surrogate, or too long.
    /// </summary>
    public static IReadOnlyList<string>? TrySplit(string? path, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(path))
        {
            reason = "the target path is empty";
            return null;
        }

        if (TextProblem(path) is { } problem)
        {
            reason = "the target path " + problem;
            return null;
        }

        if (path[0] != '/')
        {
            reason = "the target must be an absolute path inside the container (it starts with '/')";
            return null;
        }

        if (System.Text.Encoding.UTF8.GetByteCount(path) > MaxLength)
        {
            reason = $"the target path is longer than {MaxLength} bytes";
            return null;
        }

        var components = new List<string>();
        foreach (string segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                reason = "'..' segments are not allowed in a target; name the directory directly";
                return null;
            }

            if (System.Text.Encoding.UTF8.GetByteCount(segment) > 255)
            {
                reason = $"the path component '{segment[..16]}…' is longer than 255 bytes";
                return null;
            }

            components.Add(segment);
        }

        if (components.Count == 0)
        {
            reason = "the target cannot be the container's root directory";
            return null;
        }

        return components;
    }

    /// <summary>
    /// Why <paramref name="path"/> cannot be handed to the kernel as it is, or null. A NUL would cut it short; a lone
    /// UTF-16 surrogate has no UTF-8 form, and .NET's encoder would silently write U+FFFD instead, naming another
    /// file (two different inputs, one place, and a report that names neither).
    /// </summary>
    public static string? TextProblem(string path)
    {
        if (path.Contains('\0'))
        {
            return "contains a NUL character";
        }

        for (int i = 0; i < path.Length; i++)
        {
            if (char.IsHighSurrogate(path[i]) && i + 1 < path.Length && char.IsLowSurrogate(path[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(path[i]))
            {
                return $"is not valid Unicode: it has a lone surrogate (U+{(int)path[i]:X4}) at position {i}, which no file name can hold";
            }
        }

        return null;
    }

    /// <summary>"/a/b/c" from its components: the normalized form shown to users.</summary>
    public static string Join(IEnumerable<string> components) => "/" + string.Join('/', components);
}
