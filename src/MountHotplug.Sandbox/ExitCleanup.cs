using System.Runtime.InteropServices;

namespace MountHotplug.Sandbox;

/// <summary>
/// Runs cleanup when the process ends normally or is told to end. .NET raises ProcessExit on a normal exit
/// and on SIGINT, but not on SIGTERM (how test runners and service managers end a host) nor SIGHUP (a closed
/// terminal); sandboxes left running would keep their unshare, init and rootfs until someone kills them.
/// Nothing helps against SIGKILL or a crash.
/// </summary>
internal static class ExitCleanup
{
    private static readonly object Gate = new();
    private static readonly List<Action> Actions = [];
    private static readonly List<PosixSignalRegistration> Registrations = [];
    private static bool _hooked;

    /// <summary>
    /// Adds an action; actions run in registration order. They must be idempotent: a handler that cancels
    /// SIGTERM or SIGHUP keeps the process alive, and ProcessExit may run them again later.
    /// </summary>
    internal static void Register(Action action)
    {
        lock (Gate)
        {
            Actions.Add(action);
            if (_hooked)
            {
                return;
            }

            _hooked = true;
            AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAll();
            if (OperatingSystem.IsLinux())
            {
                // Not cancelled, so the signal's default action (termination) follows the cleanup. Kept in a
                // list because a finalized registration unregisters its handler.
                Registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RunAll()));
                Registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => RunAll()));
            }
        }
    }

    private static void RunAll()
    {
        Action[] actions;
        lock (Gate)
        {
            actions = [.. Actions];
        }

        foreach (Action action in actions)
        {
            try
            {
                action();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
            {
                // Best effort while exiting: a failure must not stop the remaining cleanups.
            }
        }
    }
}
