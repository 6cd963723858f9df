namespace MountHotplug.HelpBuilder;

/// <summary>The help of one cmdlet, as read from a platyPS (schema 2.0.0) markdown file.</summary>
internal sealed class CommandHelp
{
    public required string SourceFile { get; init; }

    public required string Name { get; init; }

    public string Verb => Name[..Name.IndexOf('-', StringComparison.Ordinal)];

    public string Noun => Name[(Name.IndexOf('-', StringComparison.Ordinal) + 1)..];

    /// <summary>The "external help file" front matter value, e.g. MountHotplug.dll-Help.xml.</summary>
    public required string ExternalHelpFile { get; init; }

    public required string ModuleName { get; init; }

    public string? OnlineVersion { get; init; }

    public List<string> Synopsis { get; } = [];

    public List<string> Description { get; } = [];

    public List<SyntaxHelp> Syntax { get; } = [];

    public List<ExampleHelp> Examples { get; } = [];

    public List<ParameterHelp> Parameters { get; } = [];

    public List<TypeHelp> Inputs { get; } = [];

    public List<TypeHelp> Outputs { get; } = [];

    public List<string> Notes { get; } = [];

    public List<LinkHelp> RelatedLinks { get; } = [];
}

/// <summary>One parameter set: its name and the parameters in the order the SYNTAX block shows them.</summary>
internal sealed record SyntaxHelp(string ParameterSetName, bool IsDefault, IReadOnlyList<string> ParameterNames);

internal sealed record ExampleHelp(string Title, IReadOnlyList<string> Code, IReadOnlyList<string> Remarks);

internal sealed record TypeHelp(string TypeName, IReadOnlyList<string> Description);

internal sealed record LinkHelp(string Text, string Uri);

internal sealed class ParameterHelp
{
    public required string Name { get; init; }

    /// <summary>1-based line of the '### -Name' heading, for error messages.</summary>
    public int Line { get; init; }

    public List<string> Description { get; } = [];

    /// <summary>One entry per ```yaml block (platyPS writes one per distinct set of attributes).</summary>
    public List<ParameterMetadata> Metadata { get; } = [];

    /// <summary>The metadata that applies in <paramref name="parameterSetName"/>, or null.</summary>
    public ParameterMetadata? For(string parameterSetName, bool onlySet)
    {
        foreach (ParameterMetadata m in Metadata)
        {
            if (m.AllParameterSets || m.ParameterSets.Contains(parameterSetName, StringComparer.OrdinalIgnoreCase))
            {
                return m;
            }
        }

        // A command with one parameter set may name it (e.g. "Default") in the yaml while the
        // SYNTAX section has no "### SetName" heading.
        return onlySet && Metadata.Count == 1 ? Metadata[0] : null;
    }
}

internal sealed record ParameterMetadata
{
    public required string Type { get; init; }

    public required bool AllParameterSets { get; init; }

    public required IReadOnlyList<string> ParameterSets { get; init; }

    public required IReadOnlyList<string> Aliases { get; init; }

    public required IReadOnlyList<string> AcceptedValues { get; init; }

    public required bool Required { get; init; }

    /// <summary>"0", "1", ... or "named".</summary>
    public required string Position { get; init; }

    public required string DefaultValue { get; init; }

    /// <summary>As platyPS writes it: "False" or "True (ByPropertyName, ByValue)".</summary>
    public required string PipelineInput { get; init; }

    public required bool Globbing { get; init; }

    public bool IsSwitch =>
        Type.Equals("SwitchParameter", StringComparison.OrdinalIgnoreCase) ||
        Type.Equals("System.Management.Automation.SwitchParameter", StringComparison.OrdinalIgnoreCase);
}
