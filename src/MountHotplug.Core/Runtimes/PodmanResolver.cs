namespace MountHotplug.Runtimes;

/// <summary>podman (rootful, or remote through CONTAINER_HOST, which podman itself reads).</summary>
internal sealed class PodmanResolver : EngineResolver
{
    internal override ContainerRuntime Runtime => ContainerRuntime.Podman;

    protected override string? Executable => CommandRunner.Find("/usr/bin/podman", "/usr/local/bin/podman", "/bin/podman");

    protected override string UnavailableReason => "podman is not installed (Debian package podman)";

    // Any local podman command may bind-mount its storage driver's home onto itself in the caller's mount namespace
    // and leave it there; asking a question must change nothing, so podman runs in a throwaway namespace of its own.
    protected override IReadOnlyList<string> Prefix(string cli) =>
        CommandRunner.Find("/usr/bin/unshare", "/bin/unshare") is { } unshare && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CONTAINER_HOST"))
            ? new[] { unshare, "--mount", "--propagation", "private", "--", cli }
            : new[] { cli };
}
