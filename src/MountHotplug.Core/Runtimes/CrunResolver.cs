using System.Text.Json;

namespace MountHotplug.Runtimes;

/// <summary>crun: /run/crun/ID/status with pid and process-start-time.</summary>
internal sealed class CrunResolver(string stateRoot = CrunResolver.DefaultRoot) : OciStateResolver(stateRoot)
{
    internal const string DefaultRoot = "/run/crun";

    internal override ContainerRuntime Runtime => ContainerRuntime.Crun;

    protected override string StateFileName => "status";

    protected override OciInitState Parse(string json) => ParseStatus(json);

    internal static OciInitState ParseStatus(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        return new OciInitState(root.GetProperty("pid").GetInt32(), OptionalUInt64(root, "process-start-time"));
    }
}
