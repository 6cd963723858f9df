using System.Text;
using Markdig.Syntax;

namespace MountHotplug.HelpBuilder;

/// <summary>
/// Turns docs/about_Topic.md into about_Topic.help.txt, the plain text Get-Help about_Topic shows.
/// Layout of PowerShell's about files:
/// <code>
/// TOPIC
///     about_Topic
///
/// SHORT DESCRIPTION
///     One line.            &lt;- line 5: Get-Help takes it as the topic's synopsis
///
/// LONG DESCRIPTION
///     Text wrapped at 80 columns, indented four spaces.
/// </code>
/// </summary>
internal sealed class AboutTopicConverter
{
    private const int Width = 80;
    private const string BodyIndent = "    ";

    // Around code spans while a paragraph is wrapped, so that none is split over two lines; not in the output.
    private const char CodeMark = '\u0001';

    private readonly string _file;
    private readonly DiagnosticBag _diagnostics;
    private readonly List<string> _lines = [];
    private bool _afterHeading;

    private AboutTopicConverter(string file, DiagnosticBag diagnostics)
    {
        _file = file;
        _diagnostics = diagnostics;
    }

    /// <summary>Converts <paramref name="file"/>; returns null when it has errors.</summary>
    public static string? Convert(string file, string text, DiagnosticBag diagnostics)
    {
        int before = diagnostics.Items.Count;
        string? result = new AboutTopicConverter(file, diagnostics).Run(text);
        return diagnostics.Items.Count == before ? result : null;
    }

    private void Error(int line, string section, string message) =>
        _diagnostics.Error(_file, line, HelpErrorCodes.AboutTopic, section, message);

    private string? Run(string text)
    {
        string topic = Path.GetFileNameWithoutExtension(_file);
        MarkdownDocument document = MarkdownText.Parse(text);
        List<MarkdownSection> top = MarkdownText.SplitByHeading(document, 1);
        if (top.Count != 2)
        {
            Error(top.Count > 2 ? top[2].Line : 1, "# title", $"an about topic has exactly one level-1 heading, '# {topic}'.");
            return null;
        }

        foreach (Block stray in top[0].Blocks)
        {
            Error(stray.Line + 1, "# title", $"unexpected {MarkdownText.Describe(stray)} before the '# {topic}' heading.");
        }

        if (top[1].Title != topic)
        {
            Error(top[1].Line, "# title", $"the heading '# {top[1].Title}' does not match the file name: expected '# {topic}'.");
        }

        List<MarkdownSection> sections = MarkdownText.SplitByHeading(top[1].Blocks, 2);
        foreach (Block stray in sections[0].Blocks)
        {
            Error(stray.Line + 1, "# " + topic, $"unexpected {MarkdownText.Describe(stray)} before '## SHORT DESCRIPTION'.");
        }

        var body = sections.Skip(1).ToList();
        MarkdownSection? shortDescription = body.FirstOrDefault(s => s.Title.Equals("SHORT DESCRIPTION", StringComparison.OrdinalIgnoreCase));
        if (body.Count == 0 || body[0] != shortDescription)
        {
            Error(top[1].Line, "## SHORT DESCRIPTION", "the first section must be '## SHORT DESCRIPTION' (Get-Help reads the topic's synopsis from it).");
            return null;
        }

        var shortParagraphs = new List<string>();
        ReportUnsupported(MarkdownText.AppendParagraphs(shortParagraphs, shortDescription.Blocks), "## SHORT DESCRIPTION");
        if (shortParagraphs.Count != 1 || shortParagraphs[0].Contains('\n', StringComparison.Ordinal))
        {
            Error(shortDescription.Line, "## SHORT DESCRIPTION", "must be exactly one paragraph of one sentence.");
            return null;
        }

        if (!body.Any(s => s.Title.Equals("LONG DESCRIPTION", StringComparison.OrdinalIgnoreCase)))
        {
            Error(top[1].Line, "## LONG DESCRIPTION", "missing section '## LONG DESCRIPTION'.");
        }

        _lines.Add("TOPIC");
        _lines.Add(BodyIndent + topic);
        _lines.Add(string.Empty);
        _lines.Add("SHORT DESCRIPTION");
        _lines.Add(BodyIndent + shortParagraphs[0]); // Line 5, not wrapped.
        foreach (MarkdownSection section in body.Skip(1))
        {
            _lines.Add(string.Empty);
            _lines.Add(section.Title.ToUpperInvariant());
            _afterHeading = true;
            WriteBlocks(section.Blocks, BodyIndent, "## " + section.Title);
        }

        while (_lines.Count > 0 && _lines[^1].Length == 0)
        {
            _lines.RemoveAt(_lines.Count - 1);
        }

        return string.Join('\n', _lines) + "\n";
    }

    private void ReportUnsupported(IEnumerable<Block> blocks, string section)
    {
        foreach (Block block in blocks)
        {
            Error(block.Line + 1, section, $"{MarkdownText.Describe(block)} cannot be turned into text; use paragraphs, lists and code blocks.");
        }
    }

    private void WriteBlocks(IEnumerable<Block> blocks, string indent, string section)
    {
        foreach (Block block in blocks)
        {
            switch (block)
            {
                case HeadingBlock heading:
                    // ### Sub-heading: a title line at the body's indentation, underlined.
                    string title = MarkdownText.HeadingText(heading);
                    Blank();
                    _lines.Add(indent + title);
                    _lines.Add(indent + new string(heading.Level <= 3 ? '-' : '~', title.Length));
                    _afterHeading = true;
                    break;
                case ParagraphBlock paragraph:
                    Blank();
                    Wrap(MarkdownText.NormalizeSpaces(MarkdownText.InlineText(paragraph.Inline, CodeMark)), indent, indent);
                    break;
                case ListBlock list:
                    Blank();
                    WriteList(list, indent, section);
                    break;
                case FencedCodeBlock or CodeBlock:
                    Blank();
                    foreach (string line in MarkdownText.CodeText((LeafBlock)block).Split('\n'))
                    {
                        _lines.Add(line.Length == 0 ? string.Empty : indent + "    " + line);
                    }

                    break;
                case QuoteBlock quote:
                    WriteBlocks(quote, indent + "  ", section);
                    break;
                case ThematicBreakBlock:
                case HtmlBlock { Type: HtmlBlockType.Comment }:
                    break;
                default:
                    ReportUnsupported([block], section);
                    break;
            }
        }
    }

    private void WriteList(ListBlock list, string indent, string section)
    {
        int number = list.IsOrdered && int.TryParse(list.OrderedStart, out int start) ? start : 1;
        foreach (Block itemBlock in list)
        {
            if (itemBlock is not ListItemBlock item)
            {
                continue;
            }

            string bullet = list.IsOrdered ? $"{number++}{list.OrderedDelimiter} " : "- ";
            string hanging = indent + new string(' ', bullet.Length);
            bool first = true;
            foreach (Block child in item)
            {
                if (first && child is ParagraphBlock paragraph)
                {
                    Wrap(MarkdownText.NormalizeSpaces(MarkdownText.InlineText(paragraph.Inline, CodeMark)), indent + bullet, hanging);
                }
                else if (child is ListBlock nested)
                {
                    WriteList(nested, hanging, section);
                }
                else
                {
                    WriteBlocks([child], hanging, section);
                }

                first = false;
            }
        }
    }

    /// <summary>Splits at spaces, but never inside a code span such as `mount --bind -o ro` (marked with <see cref="CodeMark"/>).</summary>
    private static IEnumerable<string> Words(string text)
    {
        var current = new StringBuilder();
        bool inCode = false;
        foreach (string piece in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (current.Length > 0)
            {
                current.Append(' ');
            }

            current.Append(piece);
            if (piece.Count(c => c == CodeMark) % 2 == 1)
            {
                inCode = !inCode;
            }

            if (!inCode)
            {
                yield return current.ToString();
                current.Clear();
            }
        }

        if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    /// <summary>A blank line between blocks, but none right under a heading.</summary>
    private void Blank()
    {
        if (!_afterHeading)
        {
            _lines.Add(string.Empty);
        }

        _afterHeading = false;
    }

    /// <summary>Word-wraps <paramref name="text"/> to 80 columns; hard line breaks are kept.</summary>
    private void Wrap(string text, string firstIndent, string indent)
    {
        string prefix = firstIndent;
        foreach (string hardLine in text.Split('\n'))
        {
            var line = new StringBuilder(prefix);
            bool empty = true;
            foreach (string word in Words(hardLine))
            {
                if (!empty && Visible(line.ToString()).Length + 1 + Visible(word).Length > Width)
                {
                    _lines.Add(Visible(line.ToString()));
                    line.Clear().Append(indent);
                    empty = true;
                }

                if (!empty)
                {
                    line.Append(' ');
                }

                line.Append(word);
                empty = false;
            }

            _lines.Add(Visible(line.ToString()).TrimEnd());
            prefix = indent;
        }
    }

    private static string Visible(string text) => text.Replace(CodeMark.ToString(), string.Empty, StringComparison.Ordinal);
}
