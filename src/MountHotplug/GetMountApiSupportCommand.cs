using System.Management.Automation;

namespace MountHotplug;

/// <summary>One row of Get-MountApiSupport.</summary>
public sealed class MountApiFeature
{
    internal MountApiFeature(KernelFeatureProbe probe, string kernel)
    {
        _feature = probe.Feature;
        Name = KernelFeatures.SyscallName(probe.Feature);
        Supported = probe.Supported;
        IntroducedIn = KernelFeatures.IntroducedIn(probe.Feature);
        Probe = probe.Evidence;
        UsedBy = Requirements.UsedBy(probe.Feature);
        Kernel = kernel;
    }

    // Typed for C# (GetFeature); PowerShell sees the name, which JSON and CliXml keep as it is.
    private readonly KernelFeature _feature;

    /// <summary>The feature's name, as -Feature takes it: "MoveMountBeneath" (<see cref="GetFeature"/>).</summary>
    public string Feature => _feature.ToString();

    /// <summary>The system call or flag, e.g. "move_mount(MOVE_MOUNT_BENEATH)".</summary>
    public string Name { get; }

    /// <summary>Whether this kernel has it; $null when the probe could not tell without CAP_SYS_ADMIN.</summary>
    public bool? Supported { get; }

    /// <summary>The mainline Linux version that introduced it.</summary>
    public string IntroducedIn { get; }

    /// <summary>The call that was made and what it returned.</summary>
    public string Probe { get; }

    /// <summary>The commands (or modes) that stop with KernelTooOld without it.</summary>
    public IReadOnlyList<string> UsedBy { get; }

    /// <summary>The running kernel's release (uname -r).</summary>
    public string Kernel { get; }

    /// <summary>The feature, typed.</summary>
    public KernelFeature GetFeature() => _feature;

    public override string ToString() => $"{Name}: {(Supported is null ? "unknown" : Supported.Value ? "yes" : "no")} (Linux {IntroducedIn})";
}

/// <summary>Get-MountApiSupport: which parts of the mount API the running kernel has, found by calling them.</summary>
[Cmdlet(VerbsCommon.Get, "MountApiSupport", HelpUri = HelpLinks.Docs + "Get-MountApiSupport.md")]
[OutputType(typeof(MountApiFeature))]
public sealed class GetMountApiSupportCommand : PSCmdlet
{
    /// <summary>Only these features (default: all).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public KernelFeature[]? Feature { get; set; }

    protected override void EndProcessing()
    {
        Preconditions.RequireLinux(this);
        string kernel = Preconditions.KernelRelease;
        foreach (KernelFeature feature in KernelFeatures.All)
        {
            if (Feature is null || Feature.Contains(feature))
            {
                WriteObject(new MountApiFeature(KernelFeatures.Probe(feature), kernel));
            }
        }
    }
}
