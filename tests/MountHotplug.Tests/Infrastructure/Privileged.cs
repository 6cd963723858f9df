using Xunit;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// Gate for tests that need root. On a laptop without root they are skipped with a reason; in CI (CI=true) a
/// privileged test that cannot run is a failure, never a silent skip.
/// </summary>
public static class Privileged
{
    public static bool IsRoot => Environment.UserName == "root" && MountSyscalls.HasCapSysAdmin();

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Require()
    {
        if (IsRoot)
        {
            return;
        }

        const string reason = "needs root with CAP_SYS_ADMIN (run the README's test command as root)";
        if (InCi)
        {
            throw new InvalidOperationException($"Privileged test cannot run in CI: {reason}.");
        }

        Skip.If(true, reason);
    }
}
