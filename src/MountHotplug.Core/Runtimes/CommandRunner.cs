using System.Diagnostics;

namespace MountHotplug.Runtimes;

/// <summary>What a runtime's command-line tool printed.</summary>
internal sealed record CommandOutput(int ExitCode, string StandardOutput, string StandardError)
{
    internal string FirstErrorLine => StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? $"exit code {ExitCode}";
}

/// <summary>
/// Runs a runtime's own tool (lxc-info, podman, docker) without a shell, with the caller's environment (which carries
/// DOCKER_HOST, CONTAINER_HOST, CONTAINERS_CONF) and a time limit, so a hung daemon cannot hang the cmdlet.
/// </summary>
internal static class CommandRunner
{
    // A lookup must answer within seconds whatever a runtime does: one that does not answer in time is reported by name
    // (ContainerLookup), never waited for.
    internal static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The first of <paramref name="candidates"/> that exists, or null.</summary>
    internal static string? Find(params string[] candidates) => candidates.FirstOrDefault(File.Exists);

    /// <exception cref="RuntimeUnavailableException">The tool could not be started or did not finish in time.</exception>
    internal static CommandOutput Run(ContainerRuntime runtime, string executable, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new RuntimeUnavailableException(runtime, $"{executable} could not be started: {ex.Message}", absent: !File.Exists(executable));
        }

        using (process)
        {
            process.StandardInput.Close();
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            TimeSpan limit = timeout ?? DefaultTimeout;
            if (!process.WaitForExit(limit))
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }

                process.WaitForExit();
                throw new RuntimeUnavailableException(runtime, $"{Path.GetFileName(executable)} did not answer within {limit.TotalSeconds:0} s");
            }

            process.WaitForExit();
            return new CommandOutput(process.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
