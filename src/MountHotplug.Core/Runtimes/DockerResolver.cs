namespace MountHotplug.Runtimes;

/// <summary>
/// docker. /usr/bin/docker (Debian's docker.io client) comes first: another, unrelated "docker" may sit earlier in PATH.
/// Without DOCKER_HOST and without /var/run/docker.sock there is no daemon to ask, which is said without running the CLI.
/// </summary>
internal sealed class DockerResolver : EngineResolver
{
    internal const string DefaultSocket = "/var/run/docker.sock";

    internal override ContainerRuntime Runtime => ContainerRuntime.Docker;

    private static bool NoDaemon => string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) && !File.Exists(DefaultSocket);

    protected override string? Executable =>
        NoDaemon ? null : CommandRunner.Find("/usr/bin/docker", "/usr/local/bin/docker", "/bin/docker");

    protected override string UnavailableReason =>
        NoDaemon
            ? $"no Docker daemon: DOCKER_HOST is not set and {DefaultSocket} does not exist"
            : "docker is not installed (Debian package docker.io)";
}
