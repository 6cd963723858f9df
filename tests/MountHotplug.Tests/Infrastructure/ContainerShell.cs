using System.Text;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// One busybox sh running inside a sandbox container (nsenter into its mount, uts and pid namespaces and its root)
/// that reads commands from a pipe. SandboxContainer.Exec starts an nsenter per command; reliability tests run
/// thousands of commands, and one long-lived shell saves the nsenter and the shell start each time.
/// </summary>
public sealed class ContainerShell : IDisposable
{
    private const string Marker = "__mhp_shell_rc=";

    private readonly object _gate = new();

    // stderr carries only the shell's own complaints (commands have theirs merged into stdout), and is dropped.
    private readonly ChildProcess.Interactive _process;

    public ContainerShell(SandboxContainer container) =>
        _process = ChildProcess.StartInteractive(
            ["nsenter", "-t", container.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "-u", "-p", "-r", "-w", "--", "/bin/sh"],
            cleanEnvironment: true);

    /// <summary>Single-quotes <paramref name="text"/> for sh: any byte but NUL survives, newlines included.</summary>
    public static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Runs a command line in the shell; returns its exit status and its stdout and stderr together.</summary>
    public (int ExitCode, string Output) Run(string commandLine)
    {
        lock (_gate)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the container shell has exited with code {_process.ExitCode}");
            }

            _process.Input.Write("{ " + commandLine + "\n} 2>&1 </dev/null; echo \"" + Marker + "$?\"\n");
            var output = new StringBuilder();
            while (true)
            {
                string? line = _process.Output.ReadLine()
                    ?? throw new InvalidOperationException($"the container shell ended while running: {commandLine}\n{output}");
                if (line.StartsWith(Marker, StringComparison.Ordinal))
                {
                    return (int.Parse(line[Marker.Length..]), output.ToString());
                }

                output.AppendLine(line);
            }
        }
    }

    /// <summary>Runs a command line and fails the test if it does not exit with 0.</summary>
    public string RunOrThrow(string commandLine)
    {
        (int code, string output) = Run(commandLine);
        return code == 0 ? output : throw new InvalidOperationException($"`{commandLine}` exited with {code} in the container: {output}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Input.Write("exit 0\n");
                _process.Input.Close();
                _process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // The container was stopped under the shell: nothing left to end.
        }

        // Ends what is left of it (after 5 s it is killed) and closes its pipes.
        _process.Dispose();
    }
}
