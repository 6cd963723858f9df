using System.Diagnostics;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>Waiting for something another process or thread does, for tests that cannot be told when it is done.</summary>
public static class Poll
{
    /// <summary>
    /// Checks <paramref name="condition"/> every <paramref name="interval"/> until it holds (true) or <paramref name="timeout"/>
    /// has passed without it holding (false). It is checked once more at the deadline, so a slow check is not cut short.
    /// </summary>
    public static bool Until(Func<bool> condition, TimeSpan timeout, TimeSpan interval)
    {
        var wait = Stopwatch.StartNew();
        while (!condition())
        {
            if (wait.Elapsed > timeout)
            {
                return condition();
            }

            Thread.Sleep(interval);
        }

        return true;
    }
}
