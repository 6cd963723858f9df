using System.Management.Automation;

namespace MountHotplug.Bench.FloorModule;

/// <summary>Test-FloorModule -ProcessId N: writes N. A cmdlet with one bound parameter and one output, nothing more.</summary>
[Cmdlet(VerbsDiagnostic.Test, "FloorModule")]
[OutputType(typeof(int))]
public sealed class TestFloorModuleCommand : PSCmdlet
{
    [Parameter(Mandatory = true)]
    public int ProcessId { get; set; }

    protected override void ProcessRecord() => WriteObject(ProcessId);
}
