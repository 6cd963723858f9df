namespace MountHotplug.HelpBuilder;

/// <summary>
/// Error codes of the help builder. Printed in MSBuild's canonical format
/// (<c>file(line): error MHH003: [## SYNOPSIS] ...</c>) so that the Exec task in the build
/// reports each one against the markdown file and line.
/// </summary>
internal static class HelpErrorCodes
{
    public const string FrontMatter = "MHH001";
    public const string Title = "MHH002";
    public const string MissingSynopsis = "MHH003";
    public const string MissingDescription = "MHH004";
    public const string TooFewExamples = "MHH005";
    public const string ParameterWithoutDescription = "MHH006";
    public const string ParameterMetadata = "MHH007";
    public const string Example = "MHH008";
    public const string Syntax = "MHH009";
    public const string Structure = "MHH010";
    public const string TypeSection = "MHH011";
    public const string RelatedLinks = "MHH012";
    public const string AboutTopic = "MHH013";
    public const string Unsupported = "MHH014";
}

/// <summary>One problem found in a markdown file.</summary>
/// <param name="File">Full path of the markdown file.</param>
/// <param name="Line">1-based line, or 0 when the problem concerns the whole file.</param>
/// <param name="Code">One of <see cref="HelpErrorCodes"/>.</param>
/// <param name="Section">The section the problem is in, e.g. "## PARAMETERS > ### -Path".</param>
/// <param name="Message">What is wrong and how to fix it.</param>
internal sealed record HelpDiagnostic(string File, int Line, string Code, string Section, string Message)
{
    public override string ToString()
    {
        string location = Line > 0 ? $"{File}({Line})" : File;
        string section = string.IsNullOrEmpty(Section) ? string.Empty : $"[{Section}] ";
        return $"{location}: error {Code}: {section}{Message}";
    }
}

/// <summary>Collects the problems of one run; the run writes nothing if there is any.</summary>
internal sealed class DiagnosticBag
{
    private readonly List<HelpDiagnostic> _items = [];

    public IReadOnlyList<HelpDiagnostic> Items => _items;

    public bool HasErrors => _items.Count > 0;

    public void Error(string file, int line, string code, string section, string message) =>
        _items.Add(new HelpDiagnostic(file, line, code, section, message));
}
