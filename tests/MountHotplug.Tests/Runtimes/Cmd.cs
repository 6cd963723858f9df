using System.Diagnostics;
using MountHotplug.Sandbox;

namespace MountHotplug.Tests.Runtimes;

/// <summary>Runs the runtimes' own tools for the fixtures: no shell parses arguments, stdin is closed, each call has a time limit.</summary>
public static class Cmd
{
    public static ExecResult Run(IReadOnlyList<string> argv, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in argv.Skip(1))
        {
            info.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach ((string k, string v) in environment)
            {
                info.Environment[k] = v;
            }
        }

        using Process process = Process.Start(info)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(60);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{string.Join(' ', argv)} did not finish within {limit.TotalSeconds:0} s");
        }

        process.WaitForExit();

        // A daemon started by the command may keep the pipes open: its own output is complete once it exited.
        Task.WaitAll(new Task[] { stdout, stderr }, TimeSpan.FromSeconds(5));
        return new ExecResult(process.ExitCode, stdout.IsCompleted ? stdout.Result : string.Empty, stderr.IsCompleted ? stderr.Result : string.Empty);
    }

    public static ExecResult Run(params string[] argv) => Run((IReadOnlyList<string>)argv);

    public static string RunOrThrow(params string[] argv) => RunOrThrow(argv, null);

    public static string RunOrThrow(IReadOnlyList<string> argv, IDictionary<string, string>? environment)
    {
        ExecResult r = Run(argv, environment: environment);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{string.Join(' ', argv)}` exited with {r.ExitCode}: {r.StandardError.Trim()} {r.StandardOutput.Trim()}");
        }

        return r.StandardOutput;
    }

    /// <summary>Starts a command in a session of its own, detached from the test's pipes (its output goes to a log file).</summary>
    public static Process StartDetached(IReadOnlyList<string> argv, string logFile, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("log=\"$1\"; shift; exec setsid \"$@\" </dev/null >\"$log\" 2>&1");
        info.ArgumentList.Add("mhp-test");
        info.ArgumentList.Add(logFile);
        foreach (string a in argv)
        {
            info.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach ((string k, string v) in environment)
            {
                info.Environment[k] = v;
            }
        }

        return Process.Start(info)!;
    }
}
