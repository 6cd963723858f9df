using System.Management.Automation;
using System.Management.Automation.Runspaces;
using MountHotplug.Sandbox;

namespace MountHotplug.Shell;

/// <summary>mhp: runs PowerShell with MountHotplug loaded, for hosts without pwsh, and the demo.</summary>
internal static class Program
{
    private const string Usage = """
        usage: mhp -Command '<pipeline>'     run a pipeline (the module is already imported)
               mhp -File <script.ps1> [args] run a script
               mhp demo                      hot-plug a host directory into a throwaway container and show it
        Output goes through Out-Default, so the module's table views show. Exit code 1 if any error was written.
        The module is loaded from ../MountHotplug next to mhp.dll, or from $MHP_MODULE.
        """;

    private static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "-?" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            return args[0].ToLowerInvariant() switch
            {
                "demo" => Demo.Run(),
                "-command" or "-c" when args.Length >= 2 => RunScript(string.Join(' ', args.Skip(1)), Array.Empty<string>()),
                "-file" or "-f" when args.Length >= 2 => RunScript(File.ReadAllText(args[1]), args.Skip(2).ToArray(), args[1]),
                _ => Fail($"mhp: unknown arguments '{string.Join(' ', args)}'.\n{Usage}"),
            };
        }
        catch (FileNotFoundException ex)
        {
            return Fail($"mhp: {ex.Message}");
        }
    }

    internal static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }

    internal static string ModuleManifest =>
        Environment.GetEnvironmentVariable("MHP_MODULE") is { Length: > 0 } fromEnv
            ? fromEnv
            : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "MountHotplug", "MountHotplug.psd1"));

    internal static Runspace OpenRunspace(ConsoleHost host)
    {
        if (!File.Exists(ModuleManifest))
        {
            throw new FileNotFoundException($"the MountHotplug module is not at {ModuleManifest}; run 'dotnet build' in the repository first, or set MHP_MODULE.");
        }

        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { ModuleManifest });
        Runspace runspace = RunspaceFactory.CreateRunspace(host, iss);
        runspace.Open();
        // Scripts and logs want the error id and category on every error, which the concise view leaves out.
        using PowerShell setup = PowerShell.Create();
        setup.Runspace = runspace;
        setup.AddScript("$ErrorView = 'NormalView'" + (Console.IsOutputRedirected ? "; $PSStyle.OutputRendering = 'PlainText'" : string.Empty)).Invoke();

        return runspace;
    }

    /// <summary>Runs <paramref name="script"/> with its output and errors rendered by Out-Default; 1 if it wrote an error.</summary>
    internal static int Execute(Runspace runspace, ConsoleHost host, string script, string[] arguments, string? scriptPath = null)
    {
        using PowerShell ps = PowerShell.Create();
        ps.Runspace = runspace;
        if (scriptPath is not null)
        {
            ps.AddCommand(Path.GetFullPath(scriptPath));
            AddScriptArguments(ps, arguments);
        }
        else
        {
            ps.AddScript(script);
        }

        ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
        ps.AddCommand("Out-Default");
        try
        {
            ps.Invoke();
        }
        catch (RuntimeException ex)
        {
            host.UI.WriteErrorLine(ex.ErrorRecord.ErrorDetails?.Message ?? ex.Message);
            return 1;
        }

        if (host.ExitRequested)
        {
            return host.ExitCode;
        }

        return ps.HadErrors ? 1 : 0;
    }

    /// <summary>Binds script arguments as pwsh -File does: "-Name value", "-Name:value", "-Switch", else positional.</summary>
    internal static void AddScriptArguments(PowerShell ps, IReadOnlyList<string> arguments)
    {
        for (int i = 0; i < arguments.Count; i++)
        {
            string argument = arguments[i];
            if (argument.Length > 1 && argument[0] == '-' && char.IsLetter(argument[1]))
            {
                int colon = argument.IndexOf(':');
                if (colon > 0)
                {
                    ps.AddParameter(argument[1..colon], argument[(colon + 1)..]);
                }
                else if (i + 1 < arguments.Count && !(arguments[i + 1].Length > 1 && arguments[i + 1][0] == '-' && char.IsLetter(arguments[i + 1][1])))
                {
                    ps.AddParameter(argument[1..], arguments[++i]);
                }
                else
                {
                    ps.AddParameter(argument[1..]);
                }
            }
            else
            {
                ps.AddArgument(argument);
            }
        }
    }

    private static int RunScript(string script, string[] arguments, string? scriptPath = null)
    {
        var host = new ConsoleHost();
        using Runspace runspace = OpenRunspace(host);
        return Execute(runspace, host, script, arguments, scriptPath);
    }
}
