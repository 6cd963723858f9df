using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using MountHotplug.Sync;

namespace MountHotplug;

/// <summary>
/// Sync-ContainerMount: makes a running container's hot-plugged mounts what a list of entries says, doing only what differs
/// (ContainerSync in the core library looks, plans and acts; this binds the entries and writes what it returns).
/// </summary>
[Cmdlet(VerbsData.Sync, "ContainerMount", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = MountSet,
    HelpUri = HelpLinks.Docs + "Sync-ContainerMount.md")]
[OutputType(typeof(SyncResult))]
public sealed class SyncContainerMountCommand : MountCmdlet, IDisposable
{
    private const string MountSet = "Mount";
    private const string PathSet = "Path";

    private readonly List<IReadOnlyList<KeyValuePair<string, object?>>> _entries = new();
    private ContainerSync? _sync;

    /// <summary>The container, from Get-ContainerNamespace.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    [LocalObjectTransformation]
    public ContainerNamespace Namespace { get; set; } = null!;

    /// <summary>The desired mounts: hashtables, Import-Csv rows, ConvertFrom-Json objects (Path or Source, Target, attributes).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = MountSet)]
    [Alias("InputObject")]
    [AllowEmptyCollection]
    public PSObject[] Mount { get; set; } = Array.Empty<PSObject>();

    /// <summary>A .psd1 (@{ Mounts = @(@{…}, …) }) or .json file of desired mounts; relative host paths in it are relative to the file.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = string.Empty;

    /// <summary>Unplug the mounts Sync placed in this container earlier that no entry names any more.</summary>
    [Parameter]
    public SwitchParameter Prune { get; set; }

    /// <summary>Change or replace mounts Sync did not place, instead of reporting a conflict.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void BeginProcessing()
    {
        Preconditions.Require(this, Requirements.SyncContainerMount);
        if (Namespace.IsDisposed)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, Namespace,
                $"The ContainerNamespace of PID {Namespace.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
        }
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == MountSet)
        {
            foreach (PSObject entry in Mount)
            {
                _entries.Add(Fields(entry));
            }
        }
    }

    protected override void EndProcessing()
    {
        IReadOnlyList<ParsedEntry> entries = ParameterSetName == PathSet ? ReadFile() : DesiredMountParser.ParseAll(_entries, ResolveHostPath);
        try
        {
            _sync = ContainerSync.Begin(Namespace, trace: Trace);
        }
        catch (SyncStateException ex)
        {
            ThrowTerminatingError(MountErrors.FromSyncState(ex));
            return;
        }
        catch (ObjectDisposedException)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.NamespaceDisposed, ErrorCategory.InvalidArgument, Namespace,
                $"The ContainerNamespace of PID {Namespace.ProcessId} has been disposed.", "Get a new one with Get-ContainerNamespace."));
            return;
        }

        try
        {
            SyncPlan plan;
            try
            {
                plan = _sync.Plan(entries, Prune, Force);
            }
            catch (HotplugException ex)
            {
                ThrowTerminatingError(MountErrors.FromHotplug(ex, Namespace));
                return;
            }

            foreach (SyncStep step in plan.Steps)
            {
                Carry(step);
            }

            if (plan.Forget.Count > 0 && ShouldProcess(
                    $"forget {plan.Forget.Count} mount(s) Sync placed in PID {Namespace.ProcessId} that are gone ({string.Join(", ", plan.Forget.Select(r => $"{r.Target}: mount {r.MountId}"))})",
                    $"Forget the mounts Sync placed at {string.Join(", ", plan.Forget.Select(r => r.Target))}, which are gone?", "Sync-ContainerMount"))
            {
                _sync.Forget(plan.Forget);
            }
        }
        finally
        {
            // Whatever was done is recorded, also when the pipeline was stopped halfway.
            try
            {
                _sync.Commit();
            }
            finally
            {
                Dispose();
            }
        }
    }

    // The stop rule is MountCmdlet's: a step in progress undoes itself on the next WriteVerbose, and EndProcessing's finally records the rest.

    public void Dispose()
    {
        _sync?.Dispose();
        _sync = null;
    }

    private void Carry(SyncStep step)
    {
        string subject = step.Target.Length > 0 ? step.Target : step.Desired?.Source ?? string.Empty;
        if (step.Action is not { } action)
        {
            WriteError(MountErrors.FromSyncEntry(step.Problem!, step.Problem is SyncException s ? s.Subject : subject, step.Desired?.Source ?? subject));
            return;
        }

        if (action == SyncAction.InSync)
        {
            WriteObject(_sync!.Describe(step, whatIf: false));
            return;
        }

        if (action == SyncAction.Conflict)
        {
            WriteObject(_sync!.Describe(step, whatIf: false));
            WriteError(MountErrors.FromSyncEntry(step.Problem!, step.Target, step.Desired!.Source));
            return;
        }

        if (!ShouldProcess(Description(step), $"Sync {step.Target} inside PID {Namespace.ProcessId}: {action}?", "Sync-ContainerMount"))
        {
            WriteObject(_sync!.Describe(step, whatIf: true));
            return;
        }

        SyncResult result;
        try
        {
            result = _sync!.Perform(step);
        }
        catch (Exception ex) when (SyncExecutor.IsEntryFailure(ex))
        {
            if (ex is HotplugException { Failure: HotplugFailure.ContainerExited } exited)
            {
                ThrowTerminatingError(MountErrors.FromHotplug(exited, Namespace));
            }

            WriteError(MountErrors.FromSyncEntry(ex, step.Target, step.Desired?.Source ?? step.Record?.Source ?? subject));
            return;
        }

        WriteObject(result);
    }

    private string Description(SyncStep step)
    {
        string where = $"{step.Target} inside PID {Namespace.ProcessId} ({Namespace.ProcessName})";
        DesiredMount? desired = step.Desired;
        return step.Action switch
        {
            SyncAction.Added => $"Added: attach {desired!.Source} ({desired.Attributes}, {desired.Propagation.ToString().ToLowerInvariant()}) at {where}: {step.Reason}",
            SyncAction.Updated => $"Updated: change mount {step.MountIdBefore} at {where} in place (mount_setattr) to {desired!.Attributes}, {desired.Propagation.ToString().ToLowerInvariant()}: {step.Reason}",
            SyncAction.Replaced => $"Replaced: put {desired!.Source} ({desired.Attributes}) beneath mount {step.MountIdBefore} at {where} (MOVE_MOUNT_BENEATH), then detach that one: {step.Reason}",
            _ => $"Removed: unplug mount {step.MountIdBefore} of {step.Record!.Source} at {where}: {step.Reason}",
        };
    }

    /// <summary>The fields of one entry: a hashtable's keys, an object's properties (Import-Csv, ConvertFrom-Json), or a bare path.</summary>
    private static IReadOnlyList<KeyValuePair<string, object?>> Fields(PSObject entry) => entry.BaseObject switch
    {
        IDictionary table => table.Keys.Cast<object>().Select(k => new KeyValuePair<string, object?>(k.ToString() ?? string.Empty, Plain(table[k]))).ToList(),
        string path => [new KeyValuePair<string, object?>("Path", path)],
        _ => entry.Properties.Where(p => p.IsGettable).Select(p => new KeyValuePair<string, object?>(p.Name, Plain(p.Value))).ToList(),
    };

    private static object? Plain(object? value) => value switch
    {
        PSObject wrapped => Plain(wrapped.BaseObject),
        SwitchParameter flag => flag.IsPresent,
        _ => value,
    };

    private string ResolveHostPath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    private IReadOnlyList<ParsedEntry> ReadFile()
    {
        string file = ResolveHostPath(Path);
        string directory = System.IO.Path.GetDirectoryName(file) ?? "/";
        Func<string, string> resolve = p => System.IO.Path.GetFullPath(p, directory);
        try
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException(null, file);
            }

            return System.IO.Path.GetExtension(file).ToLowerInvariant() switch
            {
                ".json" => DesiredMountParser.ParseAll(DesiredMountFile.ReadJson(File.ReadAllText(file)), resolve),
                ".psd1" => DesiredMountParser.ParseAll(ReadDataFile(file), resolve),
                _ => throw new FormatException("Sync reads a .psd1 or a .json file."),
            };
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.SyncFileNotFound, ErrorCategory.ObjectNotFound, file, $"The file '{file}' does not exist.",
                "Give the path of a .psd1 or .json file of entries."));
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(MountErrors.Plain(ErrorId.SyncFileInvalid, ErrorCategory.InvalidData, file, $"Cannot read entries from '{file}': {ex.Message}",
                "Write @{ Mounts = @( @{ Path = '/srv/data'; Target = '/mnt/data'; ReadOnly = $true } ) } in a .psd1, or [ { \"path\": \"/srv/data\", \"target\": \"/mnt/data\" } ] in a .json file."));
        }

        return Array.Empty<ParsedEntry>();
    }

    // As Import-PowerShellDataFile reads one: parsed, never run; only constant values are taken.
    private static IEnumerable<IReadOnlyList<KeyValuePair<string, object?>>> ReadDataFile(string file)
    {
        ScriptBlockAst ast = Parser.ParseFile(file, out _, out ParseError[] errors);
        if (errors.Length > 0)
        {
            throw new FormatException($"line {errors[0].Extent.StartLineNumber}: {errors[0].Message}");
        }

        if (ast.Find(a => a is HashtableAst, searchNestedScriptBlocks: false) is not HashtableAst data || data.Parent?.Parent?.Parent != ast.EndBlock)
        {
            throw new FormatException("It holds no hashtable: write @{ Mounts = @( @{ Path = …; Target = … }, … ) }.");
        }

        Hashtable table;
        try
        {
            table = (Hashtable)data.SafeGetValue();
        }
        catch (InvalidOperationException ex)
        {
            throw new FormatException($"It holds more than constant values: {ex.Message}", ex);
        }

        object? mounts = table.Keys.Cast<object>().FirstOrDefault(k => string.Equals(k.ToString(), "Mounts", StringComparison.OrdinalIgnoreCase)) is { } key
            ? table[key]
            : throw new FormatException("Its hashtable has no Mounts key: write @{ Mounts = @( @{ Path = …; Target = … }, … ) }.");
        return (LanguagePrimitives.GetEnumerable(mounts)?.Cast<object?>() ?? [mounts]).Select(m => Fields(PSObject.AsPSObject(m ?? string.Empty)));
    }
}
