using System.Diagnostics;
using MountHotplug.Sandbox;
using MountHotplug.Tests.Infrastructure;

namespace MountHotplug.Tests.Reliability;

/// <summary>Makes a given PID come around again, with /proc/sys/kernel/ns_last_pid.</summary>
internal static class PidReuse
{
    /// <summary>
    /// Starts argv with PID <paramref name="pid"/>: sets the last allocated PID to pid - 1 and forks at once. Other
    /// processes (and this one's threads) may take the number first, so it retries; null if it never got it. Returns
    /// once the process runs <paramref name="finalComm"/>, the program argv finally execs.
    /// </summary>
    internal static Process? Spawn(int pid, string finalComm, ref int attempts, params string[] argv)
    {
        for (int i = 0; i < 200; i++)
        {
            // Someone else may have the number for now, or the old process is not reaped yet.
            if (!Poll.Until(() => !Directory.Exists($"/proc/{pid}"), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(5)))
            {
                return null;
            }

            attempts++;
            File.WriteAllText("/proc/sys/kernel/ns_last_pid", (pid - 1).ToString());
            Process process = ChildProcess.Start(argv);
            if (process.Id == pid)
            {
                // Until it has exec'd the last program it is still this process's fork.
                return Poll.Until(() => process.HasExited || File.ReadAllText($"/proc/{pid}/comm").Trim() == finalComm, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(1))
                    ? process
                    : throw new InvalidOperationException($"PID {pid} did not become {finalComm} within 30 s");
            }

            process.Kill();
            process.WaitForExit();
            process.Dispose();
        }

        return null;
    }
}
