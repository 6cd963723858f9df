using System.Diagnostics;
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
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly object _gate = new();
    private readonly Process _process;

    public ContainerShell(SandboxContainer container)
    {
        var info = new ProcessStartInfo("nsenter")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = Utf8,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
        };
        foreach (string argument in new[] { "-t", container.Pid.ToString(), "-m", "-u", "-p", "-r", "-w", "--", "/bin/sh" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment.Clear();
        info.Environment["PATH"] = "/bin:/sbin:/usr/bin:/usr/sbin";
        info.Environment["LC_ALL"] = "C";
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start nsenter");
        _process.StandardInput.AutoFlush = true;

        // Drain stderr (the shell's own complaints; commands have theirs merged into stdout) so it never blocks.
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
    }

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

            _process.StandardInput.Write("{ " + commandLine + "\n} 2>&1 </dev/null; echo \"" + Marker + "$?\"\n");
            var output = new StringBuilder();
            while (true)
            {
                string? line = _process.StandardOutput.ReadLine()
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
                _process.StandardInput.Write("exit 0\n");
                _process.StandardInput.Close();
                if (!_process.WaitForExit(5000))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _process.WaitForExit();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // The container was stopped under the shell: nothing left to end.
        }

        _process.Dispose();
    }
}
