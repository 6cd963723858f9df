using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace MountHotplug.Shell;

/// <summary>
/// The smallest host that lets Out-Default render the module's views and -Verbose/-WhatIf/Write-Progress reach the
/// terminal. It cannot prompt (mhp runs scripts, not sessions): -Confirm and mandatory-parameter prompts fail clearly.
/// </summary>
internal sealed class ConsoleHost : PSHost
{
    private readonly ConsoleUserInterface _ui = new();

    public override string Name => "mhp";

    public override Version Version => typeof(ConsoleHost).Assembly.GetName().Version ?? new Version(0, 1);

    public override Guid InstanceId { get; } = Guid.NewGuid();

    public override PSHostUserInterface UI => _ui;

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    public int ExitCode { get; private set; }

    public bool ExitRequested { get; private set; }

    public override void SetShouldExit(int exitCode)
    {
        ExitCode = exitCode;
        ExitRequested = true;
    }

    public override void EnterNestedPrompt() => throw new NotSupportedException("mhp has no nested prompt.");

    public override void ExitNestedPrompt() => throw new NotSupportedException("mhp has no nested prompt.");

    public override void NotifyBeginApplication()
    {
    }

    public override void NotifyEndApplication()
    {
    }
}

internal sealed partial class ConsoleUserInterface : PSHostUserInterface
{
    // The engine styles table headers with ANSI sequences unless the host strips them; a pipe or a log file wants none.
    private static readonly bool PlainOutput = Console.IsOutputRedirected || Environment.GetEnvironmentVariable("NO_COLOR") is not null;
    private readonly ConsoleRawUserInterface _raw = new();

    [System.Text.RegularExpressions.GeneratedRegex("\x1b\\[[0-9;]*[A-Za-z]")]
    private static partial System.Text.RegularExpressions.Regex AnsiSequence();

    private static string Render(string value) => PlainOutput ? AnsiSequence().Replace(value, string.Empty) : value;

    public override PSHostRawUserInterface RawUI => _raw;

    public override string ReadLine() => Console.ReadLine() ?? string.Empty;

    public override SecureString ReadLineAsSecureString() => throw NoPrompt();

    public override void Write(string value) => Console.Out.Write(Render(value));

    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Console.Out.Write(Render(value));

    public override void WriteLine(string value) => Console.Out.WriteLine(Render(value));

    public override void WriteErrorLine(string value) => Console.Error.WriteLine(value);

    public override void WriteDebugLine(string message) => Console.Error.WriteLine($"DEBUG: {message}");

    public override void WriteVerboseLine(string message) => Console.Error.WriteLine($"VERBOSE: {message}");

    public override void WriteWarningLine(string message) => Console.Error.WriteLine($"WARNING: {message}");

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        if (record.RecordType != ProgressRecordType.Completed && !Console.IsErrorRedirected)
        {
            Console.Error.Write($"\r{record.Activity}: {record.StatusDescription} {Math.Max(record.PercentComplete, 0)}%   ");
        }
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) =>
        throw NoPrompt();

    public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice) =>
        throw NoPrompt();

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw NoPrompt();

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
        PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw NoPrompt();

    private static PSInvalidOperationException NoPrompt() =>
        new("mhp cannot prompt: pass every mandatory parameter, and use -Confirm:$false instead of answering a confirmation.");
}

internal sealed class ConsoleRawUserInterface : PSHostRawUserInterface
{
    private static int Width => Console.IsOutputRedirected ? 160 : Math.Max(Console.WindowWidth, 80);

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

    public override Size BufferSize { get => new(Width, 9999); set { } }

    public override Coordinates CursorPosition { get; set; }

    public override int CursorSize { get; set; } = 25;

    public override bool KeyAvailable => false;

    public override Size MaxPhysicalWindowSize => new(Width, 9999);

    public override Size MaxWindowSize => new(Width, 9999);

    public override Coordinates WindowPosition { get; set; }

    public override Size WindowSize { get => new(Width, 50); set { } }

    public override string WindowTitle { get; set; } = "mhp";

    public override void FlushInputBuffer()
    {
    }

    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();

    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("mhp cannot read keys.");

    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException();

    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException();

    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) => throw new NotSupportedException();
}
