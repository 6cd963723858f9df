using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// A command that reads the mount table of one namespace: the caller's by default, a container's with -Namespace, or a
/// process's with -ProcessId. Get-Mount and Export-MountTopology share the parameters and the way errors are reported.
/// </summary>
public abstract class MountTableCommand : MountCmdlet
{
    private protected const string CallerSet = "Caller";
    private protected const string NamespaceSet = "Namespace";
    private protected const string ProcessSet = "ProcessId";

    [Parameter(Mandatory = true, ParameterSetName = NamespaceSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ContainerNamespace Namespace { get; set; } = null!;

    [Parameter(Mandatory = true, ParameterSetName = ProcessSet)]
    [Alias("Pid")]
    [ValidateRange(1, int.MaxValue)]
    [ArgumentCompleter(typeof(Runtimes.ProcessIdCompleter))]
    public int ProcessId { get; set; }

    /// <summary>The namespace the parameters name (null: the caller's) and its mount table; false after writing the error.</summary>
    private protected bool TryReadTable(out ContainerNamespace? ns, out IReadOnlyList<MountEntry> table)
    {
        table = Array.Empty<MountEntry>();
        ns = ParameterSetName switch
        {
            NamespaceSet => Namespace,
            ProcessSet => CmdletLookups.TryOpenProcess(this, ProcessId),
            _ => null,
        };
        if ((ParameterSetName == ProcessSet && ns is null) || CmdletLookups.TryReadTable(this, ns) is not { } read)
        {
            return false;
        }

        table = read;
        return true;
    }
}
