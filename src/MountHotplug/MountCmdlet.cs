using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// What every MountHotplug cmdlet shares: the one rule for stopping, and the trace callback the core calls with each system
/// call it makes.
/// <para>
/// The stop rule (Ctrl+C): StopProcessing runs on another thread while ProcessRecord may be inside a core call, so it only
/// sets <see cref="IsStopping"/>; it never disposes or ends anything a call may be using (that left created directories and
/// unreported mounts behind). A system call is short and finishes; the next WriteObject, WriteVerbose or ShouldProcess then
/// throws PipelineStoppedException, the core undoes what the step had begun, and the engine disposes the cmdlet. A cmdlet
/// that waits (Watch-Mount) waits in slices and looks at <see cref="IsStopping"/> between them.
/// </para>
/// </summary>
public abstract class MountCmdlet : PSCmdlet
{
    private volatile bool _stopping;
    private bool _traceDecided;
    private Action<string>? _trace;

    /// <summary>Whether Ctrl+C (or a downstream Select-Object -First) asked the pipeline to stop.</summary>
    private protected bool IsStopping => _stopping;

    /// <summary>
    /// The callback for the core's system-call traces: WriteVerbose when this invocation shows verbose output, else null, so
    /// that no trace text is built for nobody (a few microseconds per mount, as much as a system call).
    /// </summary>
    private protected Action<string>? Trace
    {
        get
        {
            // Decided once per invocation, and one delegate for all its calls: this is read for every mount of a pipeline.
            if (!_traceDecided)
            {
                _trace = this.WantsVerbose() ? WriteVerbose : null;
                _traceDecided = true;
            }

            return _trace;
        }
    }

    protected sealed override void StopProcessing() => _stopping = true;
}
