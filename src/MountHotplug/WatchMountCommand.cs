using System.Diagnostics;
using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Watch-Mount: streams the mount events of a container's mount namespace as they happen, from fanotify mount notifications
/// (Linux 6.15). No thread enters the namespace: the mark is made on the namespace's descriptor.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "Mount", HelpUri = HelpLinks.Docs + "Watch-Mount.md")]
[OutputType(typeof(MountEvent))]
public sealed class WatchMountCommand : MountCmdlet, IDisposable
{
    // How long one wait may block: Ctrl+C, -Timeout and a container's exit are noticed within it.
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100);
    private MountWatcher? _watcher;

    /// <summary>The container whose mount namespace to watch.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ContainerNamespace Namespace { get; set; } = null!;

    /// <summary>Only events whose mount point matches (case-sensitive wildcards).</summary>
    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    /// <summary>Stop after this many seconds.</summary>
    [Parameter]
    [ValidateRange(0.0, double.MaxValue)]
    public double Timeout { get; set; } = double.PositiveInfinity;

    /// <summary>Stop after this many events (after filtering).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Count { get; set; } = int.MaxValue;

    protected override void BeginProcessing() => Preconditions.Require(this, Requirements.WatchMount);

    protected override void ProcessRecord()
    {
        ContainerNamespace ns = Namespace;
        try
        {
            _watcher = new MountWatcher(ns);
        }
        catch (ObjectDisposedException)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, ns,
                $"The ContainerNamespace of PID {ns.ProcessId} has been disposed.", "Pin the container again with Get-ContainerNamespace."));
            return;
        }
        catch (SyscallException ex)
        {
            ThrowTerminatingError(MountErrors.FromSyscall(ex, ex.Errno == Errno.ESRCH ? ErrorId.ContainerExited : ErrorId.WatchFailed, ns,
                $"Could not watch the mount namespace of PID {ns.ProcessId}"));
            return;
        }

        WriteVerbose($"fanotify_init(FAN_REPORT_MNT) + fanotify_mark(FAN_MARK_MNTNS, FAN_MNT_ATTACH|FAN_MNT_DETACH, mount namespace {ns.MountNamespaceId})");
        var patterns = Path?.Select(p => WildcardPattern.Get(p, WildcardOptions.None)).ToList();
        var clock = Stopwatch.StartNew();
        TimeSpan limit = double.IsPositiveInfinity(Timeout) ? TimeSpan.MaxValue : TimeSpan.FromSeconds(Timeout);
        int written = 0;
        try
        {
            while (!IsStopping && written < Count && clock.Elapsed < limit)
            {
                TimeSpan left = limit - clock.Elapsed;
                IReadOnlyList<MountWatchEvent> events = _watcher.Wait(left < Slice ? left : Slice);
                foreach (MountWatchEvent e in events)
                {
                    if (e.Kind == MountEventKind.Overflow)
                    {
                        WriteError(MountErrors.Plain(ErrorId.MountEventsLost, ErrorCategory.LimitsExceeded, ns,
                            $"The kernel's event queue for the mount namespace of PID {ns.ProcessId} overflowed: some mount events were lost.",
                            "Compare with Get-Mount -Namespace to see the current state; filter less, or read faster."));
                        continue;
                    }

                    if (patterns is not null && (e.Entry?.MountPoint is not { } point || !patterns.Any(p => p.IsMatch(point))))
                    {
                        continue;
                    }

                    WriteObject(new MountEvent(e, ns));
                    if (++written >= Count)
                    {
                        break;
                    }
                }

                if (events.Count == 0 && !ns.IsAlive)
                {
                    WriteError(MountErrors.Plain(ErrorId.ContainerExited, ErrorCategory.ObjectNotFound, ns,
                        $"The process {ns.ProcessId} has exited: its mount namespace is gone, and with it the watch.", "Pin the container again once it runs."));
                    return;
                }
            }
        }
        catch (SyscallException ex)
        {
            WriteError(MountErrors.FromSyscall(ex, ErrorId.WatchFailed, ns, $"Watching the mount namespace of PID {ns.ProcessId} failed"));
        }
        finally
        {
            _watcher.Dispose();
            _watcher = null;
        }
    }

    public void Dispose() => _watcher?.Dispose();
}
