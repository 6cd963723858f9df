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
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue("Verbose", out object? bound))
        {
            return bound is SwitchParameter switchValue ? switchValue.IsPresent : LanguagePrimitives.IsTrue(bound);
        }

        return LanguagePrimitives.TryConvertTo(cmdlet.GetVariableValue("VerbosePreference"), out ActionPreference preference)
            && preference is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
    }
}
