using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>Runs ./mhp (the pinned pwsh with the staged module) as a separate process.</summary>
public static class Mhp
{
    public static string RepositoryRoot
    {
        get
        {
            for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MountHotplug.slnx")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The launcher at the repository root: a bash script that execs the pinned pwsh.</summary>
    public static string Script => Path.Combine(RepositoryRoot, "mhp");

    private static readonly Lazy<string> PinnedPwsh = new(() =>
    {
        ExecResult found = Start(null, Path.Combine(RepositoryRoot, "tools", "pinned-pwsh.sh"), Array.Empty<string>());
        return found.ExitCode == 0 ? found.StandardOutput.Trim() : throw new InvalidOperationException("tools/pinned-pwsh.sh failed: " + found.StandardError);
    });

    /// <summary>The pwsh executable that .config/dotnet-tools.json pins (restored when missing).</summary>
    public static string Pwsh => PinnedPwsh.Value;

    public static ExecResult Run(params string[] arguments) => Start(null, Script, arguments);

    /// <summary>
    /// Runs mhp as root but with no capabilities at all (setpriv clears the bounding and inheritable sets, so the
    /// exec'd process gets an empty effective set): the caller an admin gets from a container or a restricted unit.
    /// </summary>
    public static ExecResult RunWithoutCapabilities(params string[] arguments) =>
        Start(new[] { "setpriv", "--inh-caps=-all", "--bounding-set=-all", "--" }, Script, arguments);

    /// <summary>
    /// Runs mhp inside the mount namespace of <paramref name="pid"/> (nsenter -m, nothing else): with a chroot sandbox's pid, a
    /// PowerShell session whose own mount namespace is a throwaway one, playing the host in tests that need a host side.
    /// </summary>
    public static ExecResult RunInMountNamespaceOf(int pid, params string[] arguments) =>
        Start(new[] { "nsenter", "-m", "-t", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--" }, Script, arguments);

    /// <summary>Runs mhp in a new private mount namespace of its own (unshare -m), after <paramref name="prelude"/> (sh) ran there.</summary>
    public static ExecResult RunInOwnMountNamespace(string prelude, params string[] arguments) =>
        Start(new[] { "unshare", "-m", "--propagation", "private", "--", "sh", "-c", prelude + " && exec \"$0\" \"$@\"" }, Script, arguments);

    private static ExecResult Start(string[]? prefix, string program, string[] arguments) =>
        ChildProcess.Run([.. prefix ?? [], program, .. arguments], TimeSpan.FromSeconds(120));
}
