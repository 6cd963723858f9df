using System.Management.Automation;

namespace MountHotplug;

internal static class CmdletPreferences
{
    /// <summary>
    /// Whether WriteVerbose would show anything for this invocation: -Verbose, or else $VerbosePreference as the caller's
    /// scope sets it. The hot paths build their system-call traces only then; formatting them for nobody cost a few
    /// microseconds per mount, about as much as a system call (issue 7).
    /// </summary>
    public static bool WantsVerbose(this PSCmdlet cmdlet)
    {
        if (cmdlet.BoundSwitch("Verbose") is bool verbose)
        {
            return verbose;
        }

        return LanguagePrimitives.TryConvertTo(cmdlet.GetVariableValue("VerbosePreference"), out ActionPreference preference)
            && preference is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }

    /// <summary>
    /// The value a switch was given on the command line (-Name, -Name:$false, or splatted), or null when it was not given:
    /// for switches where "not given" differs from "off".
    /// </summary>
    public static bool? BoundSwitch(this PSCmdlet cmdlet, string name) =>
        cmdlet.MyInvocation.BoundParameters.TryGetValue(name, out object? value)
            ? value is SwitchParameter switchValue ? switchValue.IsPresent : LanguagePrimitives.IsTrue(value)
            : null;
}
