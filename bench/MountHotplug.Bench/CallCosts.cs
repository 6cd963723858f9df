using System.Diagnostics;

namespace MountHotplug.Bench;

/// <summary>
/// bench/profile.sh: the calls of bench/c/call_cost.c made through the native layer's public API, each the best of five
/// rounds, printed as "name ns-per-call": what .NET adds to one system call (P/Invoke, errno, a SafeHandle).
/// </summary>
internal static class CallCosts
{
    internal static void Print(int pid, int count)
    {
        using SafePidfdHandle pidfd = MountSyscalls.PidfdOpen(pid);
        Time("pidfd_send_signal", count, () =>
        {
            if (!MountSyscalls.IsAlive(pidfd))
            {
                throw new InvalidOperationException($"PID {pid} exited");
            }
        });
        Time("open_close", count, () => MountSyscalls.Open("/", OpenFlags.Path | OpenFlags.Directory).Dispose());
        Time("sched_yield", count, () => Thread.Yield());
    }

    private static void Time(string name, int count, Action call)
    {
        for (int i = 0; i < count; i++)
        {
            call(); // to tier-1 code before timing, as the C side is compiled ahead
        }

        double best = double.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                call();
            }

            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalNanoseconds / count);
        }

        Console.WriteLine($"{name} {best:F0}");
    }
}
