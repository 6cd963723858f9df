using System.Text.Json;

namespace MountHotplug.Runtimes;

/// <summary>runc: /run/runc/ID/state.json with init_process_pid and init_process_start.</summary>
internal sealed class RuncResolver(string stateRoot = RuncResolver.DefaultRoot) : OciStateResolver(stateRoot)
{
    internal const string DefaultRoot = "/run/runc";

    internal override ContainerRuntime Runtime => ContainerRuntime.Runc;

    protected override string StateFileName => "state.json";

    protected override OciInitState Parse(string json) => ParseState(json);

    internal static OciInitState ParseState(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        return new OciInitState(root.GetProperty("init_process_pid").GetInt32(), OptionalUInt64(root, "init_process_start"));
    }
}
