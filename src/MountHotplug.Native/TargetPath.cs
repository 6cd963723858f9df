namespace MountHotplug.Native;

/// <summary>Validation and splitting of a path inside a container. Pure logic: no system calls.</summary>
public static class TargetPath
{
    /// <summary>Linux PATH_MAX including the terminating NUL.</summary>
    public const int MaxLength = 4095;

    /// <summary>
    /// Splits an absolute path inside a container into its components, dropping empty and "." segments.
    /// Returns null and a reason when the path cannot be a hot-plug target: relative, empty, "/", with ".."
    /// (its meaning would depend on symlinks the container controls), with a NUL, or too long.
    /// </summary>
    public static IReadOnlyList<string>? TrySplit(string? path, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(path))
        {
            reason = "the target path is empty";
            return null;
        }

        if (path.Contains('\0'))
        {
            reason = "the target path contains a NUL character";
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

    /// <summary>"/a/b/c" from its components: the normalized form shown to users.</summary>
    public static string Join(IEnumerable<string> components) => "/" + string.Join('/', components);
}
