using System.Text;
using Markdig;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace MountHotplug.HelpBuilder;

/// <summary>A heading and the blocks up to the next heading of the same or a higher level.</summary>
internal sealed class MarkdownSection
{
    public MarkdownSection(HeadingBlock? heading, string title)
    {
        Heading = heading;
        Title = title;
    }

    /// <summary>Null for the blocks before the first heading of the level.</summary>
    public HeadingBlock? Heading { get; }

    public string Title { get; }

    public List<Block> Blocks { get; } = [];

    /// <summary>1-based line of the heading (or of the first block).</summary>
    public int Line => Heading is not null ? Heading.Line + 1 : Blocks.Count > 0 ? Blocks[0].Line + 1 : 0;
}

/// <summary>Markdig helpers: parsing, splitting by headings, and turning the AST into plain text.</summary>
internal static class MarkdownText
{
    public static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UseYamlFrontMatter()
        .Build();

    public static MarkdownDocument Parse(string text) => Markdown.Parse(text, Pipeline);

    /// <summary>The "key: value" lines of the YAML front matter, or null when there is none.</summary>
    public static Dictionary<string, string>? ReadFrontMatter(MarkdownDocument document)
    {
        YamlFrontMatterBlock? block = document.OfType<YamlFrontMatterBlock>().FirstOrDefault();
        if (block is null)
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in CodeLines(block))
        {
            string trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed == "---" || trimmed.StartsWith('#'))
            {
                continue;
            }

            int colon = trimmed.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            values[trimmed[..colon].Trim()] = Unquote(trimmed[(colon + 1)..].Trim());
        }

        return values;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && (value[0] == '\'' || value[0] == '"') && value[^1] == value[0]
            ? value[1..^1]
            : value;

    /// <summary>
    /// Splits <paramref name="blocks"/> at headings of <paramref name="level"/>. The first section
    /// (Heading null) holds what comes before the first such heading. A heading of a higher level
    /// (smaller number) is kept as an ordinary block: callers split top-down.
    /// </summary>
    public static List<MarkdownSection> SplitByHeading(IEnumerable<Block> blocks, int level)
    {
        var sections = new List<MarkdownSection> { new(null, string.Empty) };
        foreach (Block block in blocks)
        {
            if (block is HeadingBlock heading && heading.Level == level)
            {
                sections.Add(new MarkdownSection(heading, HeadingText(heading)));
            }
            else if (block is YamlFrontMatterBlock or LinkReferenceDefinitionGroup or BlankLineBlock)
            {
                // Not content.
            }
            else if (block is HtmlBlock html && IsComment(html))
            {
                // <!-- comments --> are for authors, not for Get-Help.
            }
            else
            {
                sections[^1].Blocks.Add(block);
            }
        }

        return sections;
    }

    private static bool IsComment(HtmlBlock html) => html.Type == HtmlBlockType.Comment;

    public static string HeadingText(HeadingBlock heading) => InlineText(heading.Inline).Trim();

    public static IEnumerable<string> CodeLines(LeafBlock block)
    {
        var lines = block.Lines;
        for (int i = 0; i < lines.Count; i++)
        {
            yield return lines.Lines[i].Slice.ToString();
        }
    }

    /// <summary>The text of a code block, without trailing blank lines.</summary>
    public static string CodeText(LeafBlock block)
    {
        var lines = CodeLines(block).Select(l => l.TrimEnd()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        while (lines.Count > 0 && lines[0].Length == 0)
        {
            lines.RemoveAt(0);
        }

        return string.Join('\n', lines);
    }

    public static string FenceLanguage(FencedCodeBlock block) => (block.Info ?? string.Empty).Trim();

    /// <summary>
    /// Plain text of inlines, as Get-Help shows it: soft line breaks become spaces, emphasis marks
    /// are dropped, `code` loses its backticks (a console shows them as they are, and in PowerShell
    /// text a backtick reads as an escape), a link to a web page keeps its address in parentheses,
    /// a link to another .md keeps its text only.
    /// </summary>
    public static string InlineText(ContainerInline? container) => InlineText(container, codeMark: null);

    /// <summary>
    /// The same, with each code span between two <paramref name="codeMark"/> characters, for a caller that must not wrap a
    /// line inside one (`mount --bind -o ro`) and removes the marks afterwards.
    /// </summary>
    public static string InlineText(ContainerInline? container, char? codeMark)
    {
        var sb = new StringBuilder();
        AppendInlines(sb, container, codeMark);
        return sb.ToString();
    }

    private static void AppendInlines(StringBuilder sb, ContainerInline? container, char? codeMark)
    {
        if (container is null)
        {
            return;
        }

        foreach (Inline inline in container)
        {
            switch (inline)
            {
                case LiteralInline literal:
                    sb.Append(literal.Content.ToString());
                    break;
                case CodeInline code when codeMark is { } mark:
                    sb.Append(mark).Append(code.Content).Append(mark);
                    break;
                case CodeInline code:
                    sb.Append(code.Content);
                    break;
                case AutolinkInline autolink:
                    sb.Append(autolink.Url);
                    break;
                case LinkInline link:
                    AppendLink(sb, link, codeMark);
                    break;
                case LineBreakInline lineBreak:
                    sb.Append(lineBreak.IsHard ? "\n" : " ");
                    break;
                case HtmlEntityInline entity:
                    sb.Append(entity.Transcoded.ToString());
                    break;
                case HtmlInline html:
                    sb.Append(html.Tag);
                    break;
                case DelimiterInline delimiter:
                    sb.Append(delimiter.ToLiteral());
                    AppendInlines(sb, delimiter, codeMark);
                    break;
                case ContainerInline nested:
                    AppendInlines(sb, nested, codeMark);
                    break;
                default:
                    sb.Append(inline.ToString());
                    break;
            }
        }
    }

    private static void AppendLink(StringBuilder sb, LinkInline link, char? codeMark)
    {
        string text = InlineText(link, codeMark);
        string url = link.Url ?? string.Empty;
        if (link.IsAutoLink || text.Length == 0)
        {
            sb.Append(url);
        }
        else if (IsWebAddress(url) && !string.Equals(text, url, StringComparison.Ordinal))
        {
            sb.Append(text).Append(" (").Append(url).Append(')');
        }
        else
        {
            sb.Append(text);
        }
    }

    public static bool IsWebAddress(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp);

    /// <summary>
    /// Turns blocks into MAML paragraphs: one per markdown paragraph, one per list item
    /// ("- text" / "1. text"), one per code block (indented four spaces, lines kept).
    /// Returns the blocks it cannot represent.
    /// </summary>
    public static List<Block> AppendParagraphs(List<string> paragraphs, IEnumerable<Block> blocks, string indent = "")
    {
        var unsupported = new List<Block>();
        foreach (Block block in blocks)
        {
            switch (block)
            {
                case ParagraphBlock paragraph:
                    AddNonEmpty(paragraphs, indent + NormalizeSpaces(InlineText(paragraph.Inline)));
                    break;
                case HeadingBlock heading:
                    AddNonEmpty(paragraphs, indent + HeadingText(heading));
                    break;
                case ListBlock list:
                    AppendList(paragraphs, list, indent, unsupported);
                    break;
                case FencedCodeBlock or CodeBlock:
                    string code = CodeText((LeafBlock)block);
                    AddNonEmpty(paragraphs, string.Join('\n', code.Split('\n').Select(l => l.Length == 0 ? l : indent + "    " + l)));
                    break;
                case QuoteBlock quote:
                    unsupported.AddRange(AppendParagraphs(paragraphs, quote, indent));
                    break;
                case ThematicBreakBlock or BlankLineBlock or LinkReferenceDefinitionGroup:
                    break;
                case HtmlBlock html when html.Type == HtmlBlockType.Comment:
                    break;
                default:
                    unsupported.Add(block);
                    break;
            }
        }

        return unsupported;
    }

    private static void AppendList(List<string> paragraphs, ListBlock list, string indent, List<Block> unsupported)
    {
        int number = 1;
        if (list.IsOrdered && int.TryParse(list.OrderedStart, out int start))
        {
            number = start;
        }

        foreach (Block itemBlock in list)
        {
            if (itemBlock is not ListItemBlock item)
            {
                continue;
            }

            string bullet = list.IsOrdered ? $"{number++}{list.OrderedDelimiter} " : "- ";
            string childIndent = indent + new string(' ', bullet.Length);
            var itemParagraphs = new List<string>();
            unsupported.AddRange(AppendParagraphs(itemParagraphs, item, childIndent));
            if (itemParagraphs.Count == 0)
            {
                continue;
            }

            // The first paragraph of the item carries the bullet instead of the indentation.
            paragraphs.Add(indent + bullet + itemParagraphs[0][childIndent.Length..]);
            paragraphs.AddRange(itemParagraphs.Skip(1));
        }
    }

    private static void AddNonEmpty(List<string> paragraphs, string text)
    {
        if (!string.IsNullOrWhiteSpace(text))
        {
            paragraphs.Add(text.TrimEnd());
        }
    }

    /// <summary>Collapses runs of spaces (from soft line breaks) but keeps hard line breaks.</summary>
    public static string NormalizeSpaces(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool lastWasSpace = false;
        foreach (char c in text)
        {
            if (c == ' ' || c == '\t')
            {
                if (!lastWasSpace)
                {
                    sb.Append(' ');
                }

                lastWasSpace = true;
            }
            else
            {
                if (c == '\n' && sb.Length > 0 && sb[^1] == ' ')
                {
                    sb.Length--;
                }

                sb.Append(c);
                lastWasSpace = c == '\n';
            }
        }

        return sb.ToString().Trim();
    }

    /// <summary>True for the "{{ Fill in the Synopsis }}" text that platyPS templates contain.</summary>
    public static bool IsPlaceholder(string paragraph)
    {
        string t = paragraph.Trim();
        return t.StartsWith("{{", StringComparison.Ordinal) && t.EndsWith("}}", StringComparison.Ordinal);
    }

    public static string Describe(Block block) => block switch
    {
        HtmlBlock => "an HTML block",
        _ => $"a {block.GetType().Name}",
    };
}
