namespace MountHotplug;

/// <summary>Where each cmdlet's own help page is: Get-Command's HelpUri, and the first link Get-Help -Online opens.</summary>
internal static class HelpLinks
{
    /// <summary>docs/ in the repository (the manifest's ProjectUri); each cmdlet's page is docs/Verb-Noun.md there.</summary>
    internal const string Docs = "https://github.com/MountHotplug/MountHotplug/blob/main/docs/";
}
