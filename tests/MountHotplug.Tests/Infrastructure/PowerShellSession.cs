using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace MountHotplug.Tests.Infrastructure;

/// <summary>
/// A runspace of the real engine with the module imported from the test output directory — the one path the module
/// assembly is loaded from in this process (powershell-hosting.md: one path per process).
/// </summary>
public sealed class PowerShellSession : IDisposable
{
    private readonly Runspace _runspace;
    private readonly CapturingHost _host = new();

    public PowerShellSession()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { ModuleManifestPath });
        _runspace = RunspaceFactory.CreateRunspace(_host, iss);
        _runspace.Open();
        Run("$PSStyle.OutputRendering = 'PlainText'");
    }

    /// <summary>Everything written to the host: Out-Default's rendering, "What if:" lines.</summary>
    public string HostOutput => _host.Text;

    public static string ModuleManifestPath => Path.Combine(AppContext.BaseDirectory, "MountHotplug.psd1");

    public Runspace Runspace => _runspace;

    /// <summary>Runs a script; a terminating error is returned in Errors, never thrown, so tests can check its id.</summary>
    public PipelineResult Run(string script, IDictionary<string, object?>? variables = null)
    {
        using PowerShell ps = PowerShell.Create();
        ps.Runspace = _runspace;
        if (variables is not null)
        {
            foreach (var (name, value) in variables)
            {
                _runspace.SessionStateProxy.SetVariable(name, value);
            }
        }

        ps.AddScript(script);
        Collection<PSObject> output;
        var errors = new List<ErrorRecord>();
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException ex)
        {
            output = new Collection<PSObject>();
            errors.Add(ex.ErrorRecord);
        }

        errors.InsertRange(0, ps.Streams.Error);
        return new PipelineResult(output, errors, ps.Streams.Warning.ToList(), ps.Streams.Verbose.ToList(), ps.Streams.Information.ToList(), ps.Streams.Progress.ToList());
    }

    /// <summary>Tab completion of <paramref name="input"/> with the cursor at its end, as the engine computes it.</summary>
    public IReadOnlyList<string> Complete(string input)
    {
        using PowerShell ps = PowerShell.Create();
        ps.Runspace = _runspace;
        CommandCompletion completion = CommandCompletion.CompleteInput(input, input.Length, null, ps);
        return completion.CompletionMatches.Select(m => m.CompletionText).ToList();
    }

    public void Dispose() => _runspace.Dispose();
}
