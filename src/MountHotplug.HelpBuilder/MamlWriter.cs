using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace MountHotplug.HelpBuilder;

/// <summary>
/// Writes cmdlet help as MAML, the XML that PowerShell's Get-Help reads from
/// &lt;assembly&gt;.dll-Help.xml: the element layout platyPS's New-ExternalHelp produces.
/// </summary>
internal static class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";
    private static readonly XNamespace MSHelp = "http://msdn.microsoft.com/mshelp";

    public static XDocument Build(IEnumerable<CommandHelp> commands) =>
        new(
            new XDeclaration("1.0", "utf-8", null),
            new XElement(Msh + "helpItems",
                new XAttribute("schema", "maml"),
                commands.OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase).Select(CommandElement)));

    public static string ToText(XDocument document)
    {
        var settings = new XmlWriterSettings
        {
            Encoding = new UTF8Encoding(false),
            Indent = true,
            IndentChars = "  ",
            NewLineChars = "\n",
            NewLineHandling = NewLineHandling.None,
        };
        using var stream = new MemoryStream();
        using (var writer = XmlWriter.Create(stream, settings))
        {
            document.Save(writer);
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static XElement CommandElement(CommandHelp help)
    {
        bool onlySet = help.Syntax.Count == 1;
        return new XElement(Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XAttribute(XNamespace.Xmlns + "MSHelp", MSHelp),
            new XElement(Command + "details",
                new XElement(Command + "name", help.Name),
                new XElement(Command + "verb", help.Verb),
                new XElement(Command + "noun", help.Noun),
                Description(help.Synopsis)),
            Description(help.Description),
            new XElement(Command + "syntax",
                help.Syntax
                    .OrderByDescending(s => s.IsDefault)
                    .Select(set => new XElement(Command + "syntaxItem",
                        new XElement(Maml + "name", help.Name),
                        set.ParameterNames.Select(name =>
                        {
                            ParameterHelp parameter = help.Parameters.First(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
                            return ParameterElement(parameter, parameter.For(set.ParameterSetName, onlySet)!, inSyntax: true);
                        })))),
            new XElement(Command + "parameters",
                help.Parameters.Select(p => ParameterElement(p, p.Metadata[0], inSyntax: false))),
            new XElement(Command + "inputTypes",
                help.Inputs.Select(t => new XElement(Command + "inputType", TypeElement(t.TypeName), Description(t.Description)))),
            new XElement(Command + "returnValues",
                help.Outputs.Select(t => new XElement(Command + "returnValue", TypeElement(t.TypeName), Description(t.Description)))),
            new XElement(Maml + "alertSet",
                new XElement(Maml + "alert", Paragraphs(help.Notes))),
            new XElement(Command + "examples",
                help.Examples.Select(e => new XElement(Command + "example",
                    new XElement(Maml + "title", ExampleTitle(e.Title)),
                    new XElement(Dev + "code", string.Join("\n\n", e.Code)),
                    new XElement(Dev + "remarks", Paragraphs(e.Remarks))))),
            new XElement(Command + "relatedLinks", RelatedLinks(help)));
    }

    private static XElement ParameterElement(ParameterHelp parameter, ParameterMetadata metadata, bool inSyntax)
    {
        var element = new XElement(Command + "parameter",
            new XAttribute("required", metadata.Required ? "true" : "false"),
            new XAttribute("variableLength", "true"),
            new XAttribute("globbing", metadata.Globbing ? "true" : "false"),
            new XAttribute("pipelineInput", metadata.PipelineInput),
            new XAttribute("position", metadata.Position),
            new XAttribute("aliases", metadata.Aliases.Count == 0 ? "none" : string.Join(", ", metadata.Aliases)),
            new XElement(Maml + "name", parameter.Name),
            Description(parameter.Description));

        if (inSyntax && metadata.AcceptedValues.Count > 0)
        {
            // Shown by Get-Help as -Name {A | B | C}.
            element.Add(new XElement(Command + "parameterValueGroup",
                metadata.AcceptedValues.Select(v => new XElement(Command + "parameterValue",
                    new XAttribute("required", "false"),
                    new XAttribute(Command + "variableLength", "false"),
                    v))));
        }

        // In a syntax line a switch is just [-Name]; elsewhere its type is shown.
        if (!(inSyntax && metadata.IsSwitch))
        {
            element.Add(new XElement(Command + "parameterValue",
                new XAttribute("required", metadata.IsSwitch ? "false" : "true"),
                new XAttribute("variableLength", "false"),
                metadata.Type));
        }

        element.Add(
            TypeElement(metadata.Type),
            new XElement(Dev + "defaultValue", metadata.DefaultValue));
        return element;
    }

    private static XElement TypeElement(string typeName) =>
        new(Dev + "type",
            new XElement(Maml + "name", typeName),
            new XElement(Maml + "uri"));

    private static XElement Description(IEnumerable<string> paragraphs) =>
        new(Maml + "description", Paragraphs(paragraphs));

    private static IEnumerable<XElement> Paragraphs(IEnumerable<string> paragraphs)
    {
        var list = paragraphs.ToList();
        return list.Count == 0
            ? [new XElement(Maml + "para", string.Empty)]
            : list.Select(p => new XElement(Maml + "para", p));
    }

    /// <summary>"Example 1: Stage a directory" becomes "----- Example 1: Stage a directory -----".</summary>
    internal static string ExampleTitle(string title)
    {
        const int width = 64;
        int dashes = Math.Max(5, (width - title.Length - 2) / 2);
        string side = new('-', dashes);
        return $"{side} {title} {side}";
    }

    private static IEnumerable<XElement> RelatedLinks(CommandHelp help)
    {
        var links = new List<LinkHelp>();
        if (help.OnlineVersion is not null && !help.RelatedLinks.Any(l => l.Uri == help.OnlineVersion))
        {
            // Get-Help -Online opens the first link with an address.
            links.Add(new LinkHelp("Online Version:", help.OnlineVersion));
        }

        links.AddRange(help.RelatedLinks);
        return links.Select(l => new XElement(Maml + "navigationLink",
            new XElement(Maml + "linkText", l.Text),
            new XElement(Maml + "uri", l.Uri)));
    }
}
