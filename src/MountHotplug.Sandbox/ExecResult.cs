namespace MountHotplug.Sandbox;

/// <summary>The outcome of a command run inside (or for) a sandbox container.</summary>
/// <param name="ExitCode">The exit code; 128 + N when the command was killed by signal N.</param>
/// <param name="StandardOutput">Everything the command wrote to stdout.</param>
/// <param name="StandardError">Everything the command wrote to stderr.</param>
public sealed record ExecResult(int ExitCode, string StandardOutput, string StandardError);
