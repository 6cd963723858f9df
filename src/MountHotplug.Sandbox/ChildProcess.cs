using System.Diagnostics;
using System.Text;

namespace MountHotplug.Sandbox;

/// <summary>Starting and running external programs without a shell ever seeing caller data.</summary>
internal static class ChildProcess
{
    // Container processes must not inherit the test host's environment (DOTNET_*, terminals, ...):
    // only what a busybox userland needs.
    private const string CleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly string[] ToolDirectories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// A start info for argv with stdin on /dev/null. Process cannot hand a child /dev/null itself, so a
    /// constant /bin/sh script redirects and then execs argv, passed as positional parameters: argv is
    /// never parsed by a shell, and the PID of the started Process is the PID of argv[0].
    /// </summary>
    internal static ProcessStartInfo CreateStartInfo(
        IReadOnlyList<string> argv, bool cleanEnvironment, bool stdoutToStderr = false)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        var psi = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = false,
            RedirectStandardOutput = !stdoutToStderr,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(stdoutToStderr ? "exec \"$@\" </dev/null >&2" : "exec \"$@\" </dev/null");
        psi.ArgumentList.Add("mhp-sandbox");
        foreach (string arg in argv)
        {
            psi.ArgumentList.Add(arg);
        }

        if (cleanEnvironment)
        {
            psi.Environment.Clear();
            psi.Environment["PATH"] = CleanPath;
            psi.Environment["HOME"] = "/root";
            psi.Environment["LC_ALL"] = "C";
        }

        return psi;
    }

    /// <summary>Runs argv to completion and collects its output; kills it on timeout.</summary>
    internal static ExecResult Run(IReadOnlyList<string> argv, TimeSpan timeout, bool cleanEnvironment = true)
    {
        using var process = Process.Start(CreateStartInfo(argv, cleanEnvironment))
            ?? throw new InvalidOperationException($"Could not start {FormatArgv(argv)}.");
        var stdout = new OutputBuffer(int.MaxValue);
        var stderr = new OutputBuffer(int.MaxValue);
        Task stdoutPump = stdout.PumpAsync(process.StandardOutput);
        Task stderrPump = stderr.PumpAsync(process.StandardError);

        if (!process.WaitForExit(timeout))
        {
            KillTree(process);
            throw new TimeoutException(
                $"{FormatArgv(argv)} did not finish within {timeout.TotalSeconds:0.#} s and was killed. " +
                $"stderr so far: {stderr.Text.Trim()}");
        }

        // A background process started by the command may hold the pipes open forever; the command's own
        // output has arrived by the time it exited, so only wait briefly for the pumps to see EOF.
        Task.WaitAll([stdoutPump, stderrPump], TimeSpan.FromSeconds(2));
        return new ExecResult(process.ExitCode, stdout.Text, stderr.Text);
    }

    /// <summary>The absolute path of a host tool, independent of the caller's PATH.</summary>
    internal static string FindTool(string name)
    {
        foreach (string dir in ToolDirectories)
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"'{name}' was not found in {string.Join(", ", ToolDirectories)}; sandbox containers need util-linux and coreutils.");
    }

    internal static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited on its own meanwhile.
        }

        process.WaitForExit();
    }

    internal static string FormatArgv(IEnumerable<string> argv) =>
        string.Join(' ', argv.Select(a =>
            a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c))
                ? a
                : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));

    /// <summary>Collects a pipe's text as it arrives, so what came before a hang or a crash is not lost.</summary>
    internal sealed class OutputBuffer(int maxChars)
    {
        private readonly StringBuilder _text = new();
        private bool _truncated;

        internal string Text
        {
            get
            {
                lock (_text)
                {
                    return _truncated ? _text + "\n[...output truncated]" : _text.ToString();
                }
            }
        }

        internal async Task PumpAsync(StreamReader reader)
        {
            var buffer = new char[4096];
            try
            {
                int n;
                while ((n = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
                {
                    lock (_text)
                    {
                        int room = maxChars - _text.Length;
                        _text.Append(buffer, 0, Math.Min(n, Math.Max(room, 0)));
                        _truncated |= n > room;
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The Process was disposed while a background holder of the pipe kept it open.
            }
        }
    }
}
