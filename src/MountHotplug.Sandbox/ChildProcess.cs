using System.Diagnostics;
using System.Text;

namespace MountHotplug.Sandbox;

/// <summary>
/// Every external program the sandbox and the tests start, run one way: no shell ever sees caller data, stdin is
/// /dev/null unless the caller talks to the program, whatever runs to completion has a time limit, and the pipes it
/// was given are closed once it is done with them (Process.Dispose leaves a stream that was read to whoever read it).
/// </summary>
internal static class ChildProcess
{
    // Container processes must not inherit the test host's environment (DOTNET_*, terminals, ...):
    // only what a busybox userland needs.
    private const string CleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly string[] ToolDirectories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// A start info for argv with stdin on /dev/null. Process cannot hand a child /dev/null itself, so a
    /// constant /bin/sh script redirects and then execs argv, passed as positional parameters: argv is
    /// never parsed by a shell, and the PID of the started Process is the PID of argv[0].
    /// </summary>
    internal static ProcessStartInfo CreateStartInfo(
        IReadOnlyList<string> argv, bool cleanEnvironment, bool stdoutToStderr = false)
    {
        ProcessStartInfo psi = StartInfo(stdoutToStderr ? "exec \"$@\" </dev/null >&2" : "exec \"$@\" </dev/null", argv, cleanEnvironment);
        psi.RedirectStandardOutput = !stdoutToStderr;
        psi.RedirectStandardError = true;
        return psi;
    }

    /// <summary>Runs argv to completion and collects its output; kills it on timeout (default 60 s).</summary>
    /// <param name="cleanEnvironment">Only PATH, HOME and LC_ALL, for what runs in a container; else the caller's environment.</param>
    /// <param name="environment">Variables set on top.</param>
    internal static ExecResult Run(
        IReadOnlyList<string> argv, TimeSpan? timeout = null, bool cleanEnvironment = false,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        ProcessStartInfo psi = CreateStartInfo(argv, cleanEnvironment);
        Apply(psi, environment, workingDirectory);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {FormatArgv(argv)}.");
        var stdout = new OutputBuffer(int.MaxValue);
        var stderr = new OutputBuffer(int.MaxValue);
        Task stdoutPump = stdout.PumpAsync(process.StandardOutput);
        Task stderrPump = stderr.PumpAsync(process.StandardError);

        TimeSpan limit = timeout ?? DefaultTimeout;
        if (!process.WaitForExit(limit))
        {
            KillTree(process);
            throw new TimeoutException(
                $"{FormatArgv(argv)} did not finish within {limit.TotalSeconds:0.#} s and was killed. " +
                $"stderr so far: {stderr.Text.Trim()}");
        }

        // A background process started by the command may hold the pipes open forever; the command's own
        // output has arrived by the time it exited, so only wait briefly for the pumps to see EOF.
        Task.WaitAll([stdoutPump, stderrPump], TimeSpan.FromSeconds(2));
        return new ExecResult(process.ExitCode, stdout.Text, stderr.Text);
    }

    /// <summary>Runs argv to completion; returns its stdout, or throws with its exit code and stderr if that is not 0.</summary>
    internal static string RunOrThrow(
        IReadOnlyList<string> argv, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        ExecResult result = Run(argv, timeout, environment: environment);
        return result.ExitCode == 0
            ? result.StandardOutput
            : throw new InvalidOperationException(
                $"`{FormatArgv(argv)}` exited with {result.ExitCode}: {result.StandardError.Trim()} {result.StandardOutput.Trim()}".TrimEnd());
    }

    /// <summary>Starts argv beside the caller, which waits for it or signals it: stdin on /dev/null, stdout and stderr the caller's.</summary>
    internal static Process Start(IReadOnlyList<string> argv) =>
        Process.Start(StartInfo("exec \"$@\" </dev/null", argv, cleanEnvironment: false))
            ?? throw new InvalidOperationException($"Could not start {FormatArgv(argv)}.");

    /// <summary>
    /// Starts argv in a session of its own with its output in <paramref name="logFile"/>: a daemon, which must not hold
    /// the caller's pipes open or get its terminal's signals.
    /// </summary>
    internal static Process StartDetached(IReadOnlyList<string> argv, string logFile, IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo psi = StartInfo("log=\"$1\"; shift; exec setsid \"$@\" </dev/null >\"$log\" 2>&1", [logFile, .. argv], cleanEnvironment: false);
        Apply(psi, environment, workingDirectory: null);
        return Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {FormatArgv(argv)}.");
    }

    /// <summary>Starts argv with its stdin and stdout connected to the caller (UTF-8), for a conversation line by line.</summary>
    internal static Interactive StartInteractive(IReadOnlyList<string> argv, bool cleanEnvironment = false)
    {
        ProcessStartInfo psi = StartInfo("exec \"$@\"", argv, cleanEnvironment);
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.StandardInputEncoding = Utf8;
        psi.StandardOutputEncoding = Utf8;
        psi.StandardErrorEncoding = Utf8;
        return new Interactive(Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {FormatArgv(argv)}."));
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

    private static ProcessStartInfo StartInfo(string script, IReadOnlyList<string> argv, bool cleanEnvironment)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
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

    private static void Apply(ProcessStartInfo psi, IReadOnlyDictionary<string, string>? environment, string? workingDirectory)
    {
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }
    }

    /// <summary>
    /// A child the caller talks to through its stdin and stdout; its stderr is read and dropped, so that it never blocks.
    /// Dispose ends it, and what it started, and closes the pipes.
    /// </summary>
    internal sealed class Interactive : IDisposable
    {
        private readonly Process _process;
        private bool _disposed;

        internal Interactive(Process process)
        {
            _process = process;
            _process.StandardInput.AutoFlush = true;
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginErrorReadLine();
        }

        internal int Id => _process.Id;

        internal StreamWriter Input => _process.StandardInput;

        internal StreamReader Output => _process.StandardOutput;

        internal bool HasExited => _process.HasExited;

        internal int ExitCode => _process.ExitCode;

        internal bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            KillTree(_process);
            try
            {
                _process.StandardInput.Dispose();
            }
            catch (IOException)
            {
                // What was left to flush has no reader any more.
            }

            _process.StandardOutput.Dispose();
            _process.Dispose();
        }
    }

    /// <summary>
    /// Collects a pipe's text as it arrives, so what came before a hang or a crash is not lost, and closes the pipe at its
    /// end: Process.Dispose leaves open a stream that was read.
    /// </summary>
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
            char[] buffer = new char[4096];
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
            finally
            {
                reader.Dispose();
            }
        }
    }
}
