using System.Text.RegularExpressions;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace MountHotplug.HelpBuilder;

/// <summary>
/// Reads one cmdlet markdown file in the platyPS schema 2.0.0 from its Markdig AST and checks it.
/// Every problem goes to the <see cref="DiagnosticBag"/> with the file, line and section.
/// </summary>
internal sealed partial class CommandDocParser
{
    private const string AllParameterSets = "__AllParameterSets";

    private static readonly string[] KnownSections =
    [
        "SYNOPSIS", "SYNTAX", "DESCRIPTION", "EXAMPLES", "PARAMETERS", "INPUTS", "OUTPUTS", "NOTES", "RELATED LINKS",
    ];

    private static readonly string[] KnownYamlKeys =
    [
        "Type", "Parameter Sets", "Aliases", "Accepted values", "Required", "Position", "Default value",
        "Accept pipeline input", "Accept wildcard characters", "Applicable", "Dynamic",
    ];

    private readonly string _file;
    private readonly DiagnosticBag _diagnostics;

    private CommandDocParser(string file, DiagnosticBag diagnostics)
    {
        _file = file;
        _diagnostics = diagnostics;
    }

    /// <summary>Parses <paramref name="file"/>; returns null when it has errors.</summary>
    public static CommandHelp? Parse(string file, string text, DiagnosticBag diagnostics)
    {
        int before = diagnostics.Items.Count;
        CommandHelp? help = new CommandDocParser(file, diagnostics).ParseDocument(text);
        return diagnostics.Items.Count == before ? help : null;
    }

    private void Error(int line, string code, string section, string message) =>
        _diagnostics.Error(_file, line, code, section, message);

    private CommandHelp? ParseDocument(string text)
    {
        MarkdownDocument document = MarkdownText.Parse(text);
        string expectedName = Path.GetFileNameWithoutExtension(_file);

        // Front matter.
        Dictionary<string, string>? front = MarkdownText.ReadFrontMatter(document);
        string externalHelpFile = string.Empty;
        string moduleName = string.Empty;
        string? onlineVersion = null;
        if (front is null)
        {
            Error(1, HelpErrorCodes.FrontMatter, "front matter",
                "missing YAML front matter: the file must start with '---', 'external help file: <Module>.dll-Help.xml', 'Module Name: <Module>', 'online version:', 'schema: 2.0.0', '---'.");
        }
        else
        {
            externalHelpFile = front.GetValueOrDefault("external help file", string.Empty);
            moduleName = front.GetValueOrDefault("Module Name", string.Empty);
            onlineVersion = front.TryGetValue("online version", out string? online) && online.Length > 0 ? online : null;
            if (externalHelpFile.Length == 0)
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", "'external help file' is missing or empty (e.g. 'external help file: MountHotplug.dll-Help.xml').");
            }
            else if (!externalHelpFile.EndsWith("-Help.xml", StringComparison.OrdinalIgnoreCase) ||
                     externalHelpFile.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || externalHelpFile.Contains('/', StringComparison.Ordinal))
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", $"'external help file' must be a file name ending in -Help.xml, not '{externalHelpFile}'.");
            }

            if (moduleName.Length == 0)
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", "'Module Name' is missing or empty.");
            }

            if (!front.ContainsKey("online version"))
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", "'online version' is missing (it may be empty: 'online version:').");
            }
            else if (onlineVersion is not null && !MarkdownText.IsWebAddress(onlineVersion))
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", $"'online version' must be an http(s) address or empty, not '{onlineVersion}'.");
            }

            string schema = front.GetValueOrDefault("schema", string.Empty);
            if (schema != "2.0.0")
            {
                Error(1, HelpErrorCodes.FrontMatter, "front matter", $"'schema' must be 2.0.0 (the platyPS markdown schema), not '{schema}'.");
            }
        }

        // "# Verb-Noun", then "## SECTION"s.
        List<MarkdownSection> top = MarkdownText.SplitByHeading(document, 1);
        MarkdownSection? titleSection = top.Count > 1 ? top[1] : null;
        if (titleSection is null)
        {
            Error(1, HelpErrorCodes.Title, "# title", $"missing the '# {expectedName}' heading.");
            return null;
        }

        if (top.Count > 2)
        {
            Error(top[2].Line, HelpErrorCodes.Title, "# title", "more than one level-1 heading: a cmdlet file documents exactly one command.");
        }

        foreach (Block stray in top[0].Blocks)
        {
            Error(stray.Line + 1, HelpErrorCodes.Structure, "# title", $"unexpected {MarkdownText.Describe(stray)} before the '# {expectedName}' heading.");
        }

        string name = titleSection.Title;
        if (!string.Equals(name, expectedName, StringComparison.Ordinal))
        {
            Error(titleSection.Line, HelpErrorCodes.Title, "# title", $"the heading '# {name}' does not match the file name: expected '# {expectedName}'.");
        }

        if (!VerbNoun().IsMatch(name))
        {
            Error(titleSection.Line, HelpErrorCodes.Title, "# title", $"'{name}' is not a Verb-Noun command name.");
            return null;
        }

        var help = new CommandHelp
        {
            SourceFile = _file,
            Name = name,
            ExternalHelpFile = externalHelpFile,
            ModuleName = moduleName,
            OnlineVersion = onlineVersion,
        };

        List<MarkdownSection> sections = MarkdownText.SplitByHeading(titleSection.Blocks, 2);
        foreach (Block stray in sections[0].Blocks)
        {
            Error(stray.Line + 1, HelpErrorCodes.Structure, "# " + name, $"unexpected {MarkdownText.Describe(stray)} between the title and '## SYNOPSIS'.");
        }

        var byName = new Dictionary<string, MarkdownSection>(StringComparer.Ordinal);
        foreach (MarkdownSection section in sections.Skip(1))
        {
            if (!KnownSections.Contains(section.Title, StringComparer.Ordinal))
            {
                Error(section.Line, HelpErrorCodes.Structure, "## " + section.Title,
                    $"unknown section '## {section.Title}'. The platyPS sections are: {string.Join(", ", KnownSections.Select(s => "## " + s))} (upper case).");
            }
            else if (!byName.TryAdd(section.Title, section))
            {
                Error(section.Line, HelpErrorCodes.Structure, "## " + section.Title, $"'## {section.Title}' appears twice.");
            }
        }

        int titleLine = titleSection.Line;
        ReadText(byName, "SYNOPSIS", help.Synopsis, HelpErrorCodes.MissingSynopsis, titleLine, required: true);
        ReadSyntax(byName, help, titleLine);
        ReadText(byName, "DESCRIPTION", help.Description, HelpErrorCodes.MissingDescription, titleLine, required: true);
        ReadExamples(byName, help, titleLine);
        ReadParameters(byName, help, titleLine);
        ReadTypes(byName, "INPUTS", help.Inputs, titleLine);
        ReadTypes(byName, "OUTPUTS", help.Outputs, titleLine);
        ReadText(byName, "NOTES", help.Notes, HelpErrorCodes.Structure, titleLine, required: false);
        ReadRelatedLinks(byName, help);
        CheckSyntaxAgainstParameters(byName, help);
        return help;
    }

    private void ReadText(Dictionary<string, MarkdownSection> sections, string title, List<string> target, string code, int titleLine, bool required)
    {
        string label = "## " + title;
        if (!sections.TryGetValue(title, out MarkdownSection? section))
        {
            if (required)
            {
                Error(titleLine, code, label, $"missing section '## {title}'.");
            }

            return;
        }

        AddParagraphs(target, section.Blocks, label);
        target.RemoveAll(MarkdownText.IsPlaceholder);
        if (target.Count == 0 && required)
        {
            Error(section.Line, code, label, $"'## {title}' has no text (a platyPS '{{{{ ... }}}}' placeholder does not count).");
        }
    }

    private void AddParagraphs(List<string> target, IEnumerable<Block> blocks, string label)
    {
        foreach (Block block in MarkdownText.AppendParagraphs(target, blocks))
        {
            Error(block.Line + 1, HelpErrorCodes.Unsupported, label, $"{MarkdownText.Describe(block)} cannot be turned into MAML; use paragraphs, lists and code blocks.");
        }
    }

    private void ReadSyntax(Dictionary<string, MarkdownSection> sections, CommandHelp help, int titleLine)
    {
        if (!sections.TryGetValue("SYNTAX", out MarkdownSection? section))
        {
            Error(titleLine, HelpErrorCodes.Syntax, "## SYNTAX", "missing section '## SYNTAX'.");
            return;
        }

        List<MarkdownSection> sets = MarkdownText.SplitByHeading(section.Blocks, 3);
        if (sets.Count == 1)
        {
            // One parameter set: platyPS writes the block without a "### SetName" heading.
            AddSyntax(help, sets[0], AllParameterSets, isDefault: true, "## SYNTAX");
        }
        else
        {
            if (sets[0].Blocks.Count > 0)
            {
                Error(sets[0].Blocks[0].Line + 1, HelpErrorCodes.Syntax, "## SYNTAX",
                    "with several parameter sets every syntax block must be under its '### SetName' heading.");
            }

            foreach (MarkdownSection set in sets.Skip(1))
            {
                string setName = set.Title;
                bool isDefault = setName.EndsWith("(Default)", StringComparison.OrdinalIgnoreCase);
                if (isDefault)
                {
                    setName = setName[..^"(Default)".Length].Trim();
                }

                AddSyntax(help, set, setName, isDefault, $"## SYNTAX > ### {set.Title}");
            }
        }

        if (help.Syntax.Select(s => s.ParameterSetName).Distinct(StringComparer.OrdinalIgnoreCase).Count() != help.Syntax.Count)
        {
            Error(section.Line, HelpErrorCodes.Syntax, "## SYNTAX", "a parameter set name appears twice.");
        }
    }

    private void AddSyntax(CommandHelp help, MarkdownSection set, string setName, bool isDefault, string label)
    {
        var codeBlocks = set.Blocks.OfType<CodeBlock>().ToList();
        if (codeBlocks.Count != 1)
        {
            Error(set.Line, HelpErrorCodes.Syntax, label, $"expected exactly one code block with the syntax line, found {codeBlocks.Count}.");
            return;
        }

        string line = string.Join(' ', MarkdownText.CodeLines(codeBlocks[0]).Select(l => l.Trim())).Trim();
        if (!line.StartsWith(help.Name + " ", StringComparison.Ordinal) && line != help.Name)
        {
            Error(codeBlocks[0].Line + 1, HelpErrorCodes.Syntax, label, $"the syntax line must start with '{help.Name}'.");
            return;
        }

        var names = new List<string>();
        foreach (Match m in SyntaxParameter().Matches(line[help.Name.Length..]))
        {
            string parameter = m.Groups[1].Value;
            if (names.Contains(parameter, StringComparer.OrdinalIgnoreCase))
            {
                Error(codeBlocks[0].Line + 1, HelpErrorCodes.Syntax, label, $"-{parameter} appears twice in the syntax line.");
            }
            else
            {
                names.Add(parameter);
            }
        }

        help.Syntax.Add(new SyntaxHelp(setName, isDefault, names));
    }

    private void ReadExamples(Dictionary<string, MarkdownSection> sections, CommandHelp help, int titleLine)
    {
        if (!sections.TryGetValue("EXAMPLES", out MarkdownSection? section))
        {
            Error(titleLine, HelpErrorCodes.TooFewExamples, "## EXAMPLES", "missing section '## EXAMPLES': at least two examples are required.");
            return;
        }

        List<MarkdownSection> examples = MarkdownText.SplitByHeading(section.Blocks, 3);
        foreach (Block stray in examples[0].Blocks)
        {
            Error(stray.Line + 1, HelpErrorCodes.Example, "## EXAMPLES", $"unexpected {MarkdownText.Describe(stray)} before the first '### Example 1: ...' heading.");
        }

        int number = 0;
        foreach (MarkdownSection example in examples.Skip(1))
        {
            number++;
            string label = $"## EXAMPLES > ### {example.Title}";
            if (!example.Title.StartsWith($"Example {number}", StringComparison.Ordinal))
            {
                Error(example.Line, HelpErrorCodes.Example, label, $"example headings are numbered in order: expected '### Example {number}: <title>'.");
            }

            var code = new List<string>();
            var remarks = new List<string>();
            var introduction = new List<Block>();
            var after = new List<Block>();
            foreach (Block block in example.Blocks)
            {
                if (block is FencedCodeBlock fenced)
                {
                    if (code.Count == 0 && !MarkdownText.FenceLanguage(fenced).Equals("powershell", StringComparison.OrdinalIgnoreCase))
                    {
                        Error(block.Line + 1, HelpErrorCodes.Example, label, "the first code block of an example must be a ```powershell block.");
                    }

                    code.Add(MarkdownText.CodeText(fenced));
                }
                else if (block is CodeBlock)
                {
                    Error(block.Line + 1, HelpErrorCodes.Example, label, "use fenced code blocks (```powershell), not indented code, in examples.");
                }
                else if (code.Count == 0)
                {
                    introduction.Add(block);
                }
                else
                {
                    after.Add(block);
                }
            }

            // MAML's maml:introduction is shown as a prompt before the code; prose written before
            // the code goes ahead of the remarks instead.
            AddParagraphs(remarks, introduction, label);
            AddParagraphs(remarks, after, label);
            if (code.Count == 0 || code.All(string.IsNullOrWhiteSpace))
            {
                Error(example.Line, HelpErrorCodes.Example, label, "the example has no ```powershell code block.");
            }

            if (remarks.Count == 0)
            {
                Error(example.Line, HelpErrorCodes.Example, label, "the example has no text explaining what it does.");
            }

            help.Examples.Add(new ExampleHelp(example.Title, code, remarks));
        }

        if (help.Examples.Count < 2)
        {
            Error(section.Line, HelpErrorCodes.TooFewExamples, "## EXAMPLES",
                $"found {help.Examples.Count} example{(help.Examples.Count == 1 ? string.Empty : "s")}; at least two are required ('### Example 1: ...', '### Example 2: ...').");
        }
    }

    private void ReadParameters(Dictionary<string, MarkdownSection> sections, CommandHelp help, int titleLine)
    {
        if (!sections.TryGetValue("PARAMETERS", out MarkdownSection? section))
        {
            Error(titleLine, HelpErrorCodes.Structure, "## PARAMETERS", "missing section '## PARAMETERS' (it holds at least '### CommonParameters').");
            return;
        }

        List<MarkdownSection> parameters = MarkdownText.SplitByHeading(section.Blocks, 3);
        foreach (Block stray in parameters[0].Blocks)
        {
            Error(stray.Line + 1, HelpErrorCodes.Structure, "## PARAMETERS", $"unexpected {MarkdownText.Describe(stray)} before the first '### -Name' heading.");
        }

        foreach (MarkdownSection p in parameters.Skip(1))
        {
            string title = p.Title.Trim('<', '>', ' ');
            if (title is "CommonParameters" or "WorkflowCommonParameters")
            {
                // Its text is the standard paragraph; Get-Help adds [<CommonParameters>] itself.
                continue;
            }

            string label = $"## PARAMETERS > ### {p.Title}";
            if (!title.StartsWith('-') || !ParameterName().IsMatch(title[1..]))
            {
                Error(p.Line, HelpErrorCodes.ParameterMetadata, label, "a parameter heading is '### -Name' (or '### CommonParameters').");
                continue;
            }

            var parameter = new ParameterHelp { Name = title[1..], Line = p.Line };
            if (help.Parameters.Any(x => x.Name.Equals(parameter.Name, StringComparison.OrdinalIgnoreCase)))
            {
                Error(p.Line, HelpErrorCodes.ParameterMetadata, label, $"-{parameter.Name} is documented twice.");
                continue;
            }

            var descriptionBlocks = new List<Block>();
            foreach (Block block in p.Blocks)
            {
                if (block is FencedCodeBlock fenced && MarkdownText.FenceLanguage(fenced).Equals("yaml", StringComparison.OrdinalIgnoreCase))
                {
                    ParameterMetadata? metadata = ReadParameterYaml(fenced, label);
                    if (metadata is not null)
                    {
                        parameter.Metadata.Add(metadata);
                    }
                }
                else
                {
                    descriptionBlocks.Add(block);
                }
            }

            AddParagraphs(parameter.Description, descriptionBlocks, label);
            parameter.Description.RemoveAll(MarkdownText.IsPlaceholder);
            if (parameter.Description.Count == 0)
            {
                Error(p.Line, HelpErrorCodes.ParameterWithoutDescription, label,
                    $"parameter -{parameter.Name} has no description: write what it does between '### -{parameter.Name}' and its ```yaml block.");
            }

            if (p.Blocks.OfType<FencedCodeBlock>().All(b => !MarkdownText.FenceLanguage(b).Equals("yaml", StringComparison.OrdinalIgnoreCase)))
            {
                Error(p.Line, HelpErrorCodes.ParameterMetadata, label, $"parameter -{parameter.Name} has no ```yaml block (Type, Parameter Sets, Aliases, Required, Position, Default value, Accept pipeline input, Accept wildcard characters).");
            }

            help.Parameters.Add(parameter);
        }
    }

    private ParameterMetadata? ReadParameterYaml(FencedCodeBlock block, string label)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int line = block.Line + 1;
        bool ok = true;
        foreach (string raw in MarkdownText.CodeLines(block))
        {
            line++;
            string text = raw.Trim();
            if (text.Length == 0)
            {
                continue;
            }

            int colon = text.IndexOf(':', StringComparison.Ordinal);
            string key = colon > 0 ? text[..colon].Trim() : string.Empty;
            if (!KnownYamlKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                Error(line, HelpErrorCodes.ParameterMetadata, label, $"unknown yaml line '{text}'; the keys are: {string.Join(", ", KnownYamlKeys)}.");
                ok = false;
                continue;
            }

            if (!values.TryAdd(key, text[(colon + 1)..].Trim()))
            {
                Error(line, HelpErrorCodes.ParameterMetadata, label, $"'{key}' appears twice in the yaml block.");
                ok = false;
            }
        }

        int blockLine = block.Line + 1;
        string? Get(string key)
        {
            if (values.TryGetValue(key, out string? v) && v.Length > 0)
            {
                return v;
            }

            Error(blockLine, HelpErrorCodes.ParameterMetadata, label, $"the yaml block has no '{key}:' value.");
            ok = false;
            return null;
        }

        bool? Bool(string key)
        {
            string? v = Get(key);
            if (v is null)
            {
                return null;
            }

            if (bool.TryParse(v, out bool b))
            {
                return b;
            }

            Error(blockLine, HelpErrorCodes.ParameterMetadata, label, $"'{key}' must be True or False, not '{v}'.");
            ok = false;
            return null;
        }

        string? type = Get("Type");
        bool? required = Bool("Required");
        bool? globbing = Bool("Accept wildcard characters");
        string? position = Get("Position");
        if (position is not null)
        {
            if (position.Equals("Named", StringComparison.OrdinalIgnoreCase))
            {
                position = "named";
            }
            else if (!int.TryParse(position, out int n) || n < 0)
            {
                Error(blockLine, HelpErrorCodes.ParameterMetadata, label, $"'Position' must be Named or a number from 0, not '{position}'.");
                ok = false;
            }
        }

        string? pipeline = Get("Accept pipeline input");
        if (pipeline is not null)
        {
            Match m = PipelineInput().Match(pipeline);
            if (!m.Success)
            {
                Error(blockLine, HelpErrorCodes.ParameterMetadata, label,
                    $"'Accept pipeline input' must be False, True (ByValue), True (ByPropertyName) or True (ByPropertyName, ByValue), not '{pipeline}'.");
                ok = false;
            }
        }

        string sets = values.GetValueOrDefault("Parameter Sets", "(All)");
        string aliases = values.GetValueOrDefault("Aliases", string.Empty);
        string accepted = values.GetValueOrDefault("Accepted values", string.Empty);
        string defaultValue = values.GetValueOrDefault("Default value", "None");
        if (!ok || type is null || required is null || globbing is null || position is null || pipeline is null)
        {
            return null;
        }

        bool all = sets.Trim().Equals("(All)", StringComparison.OrdinalIgnoreCase) || sets.Trim().Equals(AllParameterSets, StringComparison.OrdinalIgnoreCase);
        return new ParameterMetadata
        {
            Type = type,
            AllParameterSets = all,
            ParameterSets = all ? [] : SplitList(sets),
            Aliases = aliases.Equals("None", StringComparison.OrdinalIgnoreCase) ? [] : SplitList(aliases),
            AcceptedValues = SplitList(accepted),
            Required = required.Value,
            Position = position,
            DefaultValue = defaultValue.Length == 0 ? "None" : defaultValue,
            PipelineInput = pipeline,
            Globbing = globbing.Value,
        };
    }

    private static List<string> SplitList(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private void ReadTypes(Dictionary<string, MarkdownSection> sections, string title, List<TypeHelp> target, int titleLine)
    {
        string label = "## " + title;
        if (!sections.TryGetValue(title, out MarkdownSection? section))
        {
            Error(titleLine, HelpErrorCodes.TypeSection, label, $"missing section '## {title}' (one '### TypeName' per type, or '### None').");
            return;
        }

        List<MarkdownSection> types = MarkdownText.SplitByHeading(section.Blocks, 3);
        foreach (Block stray in types[0].Blocks)
        {
            Error(stray.Line + 1, HelpErrorCodes.TypeSection, label, $"unexpected {MarkdownText.Describe(stray)} before the first '### TypeName' heading.");
        }

        foreach (MarkdownSection type in types.Skip(1))
        {
            string typeLabel = $"{label} > ### {type.Title}";
            var description = new List<string>();
            AddParagraphs(description, type.Blocks, typeLabel);
            description.RemoveAll(MarkdownText.IsPlaceholder);
            if (description.Count == 0)
            {
                Error(type.Line, HelpErrorCodes.TypeSection, typeLabel, $"'{type.Title}' has no description.");
            }

            target.Add(new TypeHelp(type.Title, description));
        }

        if (target.Count == 0)
        {
            Error(section.Line, HelpErrorCodes.TypeSection, label, $"'## {title}' lists no type: add '### TypeName' (or '### None') with a description.");
        }
    }

    private void ReadRelatedLinks(Dictionary<string, MarkdownSection> sections, CommandHelp help)
    {
        if (!sections.TryGetValue("RELATED LINKS", out MarkdownSection? section))
        {
            return;
        }

        foreach (Block block in section.Blocks)
        {
            var links = Links(block).Where(l => !l.IsImage).ToList();
            if (links.Count == 0)
            {
                Error(block.Line + 1, HelpErrorCodes.RelatedLinks, "## RELATED LINKS", "each entry must be a link: [Text](address).");
                continue;
            }

            foreach (LinkInline link in links)
            {
                string text = MarkdownText.InlineText(link).Trim();
                string url = link.Url ?? string.Empty;
                if (text.Length == 0 && url.Length == 0)
                {
                    Error(block.Line + 1, HelpErrorCodes.RelatedLinks, "## RELATED LINKS", "a link has neither text nor address.");
                    continue;
                }

                // Get-Help -Online opens the first http(s) uri; a link to a sibling .md file is
                // shown by its text alone (the user reads it with Get-Help <text>).
                help.RelatedLinks.Add(new LinkHelp(text.Length > 0 ? text : url, MarkdownText.IsWebAddress(url) ? url : string.Empty));
            }
        }
    }

    private static IEnumerable<LinkInline> Links(Block block) => block switch
    {
        LeafBlock { Inline: not null } leaf => leaf.Inline.Descendants<LinkInline>(),
        ContainerBlock container => container.SelectMany(Links),
        _ => [],
    };

    private void CheckSyntaxAgainstParameters(Dictionary<string, MarkdownSection> sections, CommandHelp help)
    {
        if (help.Syntax.Count == 0 || !sections.ContainsKey("PARAMETERS"))
        {
            return;
        }

        int syntaxLine = sections.TryGetValue("SYNTAX", out MarkdownSection? s) ? s.Line : 0;
        bool onlySet = help.Syntax.Count == 1;
        foreach (SyntaxHelp set in help.Syntax)
        {
            foreach (string name in set.ParameterNames)
            {
                ParameterHelp? parameter = help.Parameters.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
                if (parameter is null)
                {
                    Error(syntaxLine, HelpErrorCodes.Syntax, "## SYNTAX", $"-{name} is in the syntax but has no '### -{name}' under '## PARAMETERS'.");
                }
                else if (parameter.Metadata.Count > 0 && parameter.For(set.ParameterSetName, onlySet) is null)
                {
                    Error(parameter.Line, HelpErrorCodes.ParameterMetadata, $"## PARAMETERS > ### -{parameter.Name}",
                        $"no yaml block of -{parameter.Name} covers parameter set '{set.ParameterSetName}' (use 'Parameter Sets: (All)' or list the set).");
                }
            }
        }

        foreach (ParameterHelp parameter in help.Parameters)
        {
            if (!help.Syntax.Any(set => set.ParameterNames.Contains(parameter.Name, StringComparer.OrdinalIgnoreCase)))
            {
                Error(parameter.Line, HelpErrorCodes.Syntax, $"## PARAMETERS > ### -{parameter.Name}", $"-{parameter.Name} is documented but appears in no syntax block under '## SYNTAX'.");
            }
        }
    }

    [GeneratedRegex(@"^[A-Za-z]+-[A-Za-z0-9]+$")]
    private static partial Regex VerbNoun();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex ParameterName();

    /// <summary>A "-Name" in a syntax line: after a space or '[', not inside a type like &lt;Foo-Bar&gt;.</summary>
    [GeneratedRegex(@"(?<=[\s\[])-([A-Za-z_][A-Za-z0-9_]*)\b")]
    private static partial Regex SyntaxParameter();

    [GeneratedRegex(@"^(False|True \((ByValue|ByPropertyName|ByPropertyName, ByValue|ByValue, ByPropertyName|ByRemainingArguments)\))$", RegexOptions.IgnoreCase)]
    private static partial Regex PipelineInput();
}
