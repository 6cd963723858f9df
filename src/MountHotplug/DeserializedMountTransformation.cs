using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Turns a deserialized StagedMount (what Receive-Job, Invoke-Command or Import-Clixml give back) into a description that owns
/// no descriptor, so that Remove-Mount can undo a hot-plug made in another process: it names the container again by PID, start
/// time and mount-namespace id, and the mount by its id, and proves both before it unmounts anything.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class DeserializedMountTransformationAttribute : ArgumentTransformationAttribute
{
    private const string TypeName = "Deserialized.MountHotplug.StagedMount";

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        if (inputData is PSObject single && IsDeserialized(single))
        {
            return FromDeserialized(single);
        }

        if (inputData is object[] items && items.Any(item => item is PSObject wrapper && IsDeserialized(wrapper)))
        {
            return items.Select(item => item is PSObject wrapper && IsDeserialized(wrapper) ? FromDeserialized(wrapper) : item).ToArray();
        }

        return inputData;
    }

    private static bool IsDeserialized(PSObject wrapper) => wrapper.TypeNames.Contains(TypeName);

    private static StagedMount FromDeserialized(PSObject source)
    {
        T? Get<T>(string name) => source.Properties[name]?.Value is { } value ? LanguagePrimitives.ConvertTo<T>(value) : default;
        return StagedMount.Describe(new AttachedMountRecord(Get<string>(nameof(StagedMount.Source)) ?? string.Empty,
            Get<ulong>(nameof(StagedMount.MountId)), Get<bool>(nameof(StagedMount.IsDirectory)))
        {
            Recurse = Get<bool>(nameof(StagedMount.Recurse)),
            Attributes = (Get<bool>(nameof(StagedMount.ReadOnly)) ? MountAttributes.ReadOnly : 0)
                | (Get<bool>(nameof(StagedMount.NoSuid)) ? MountAttributes.NoSuid : 0)
                | (Get<bool>(nameof(StagedMount.NoDev)) ? MountAttributes.NoDev : 0)
                | (Get<bool>(nameof(StagedMount.NoExec)) ? MountAttributes.NoExec : 0),
            Propagation = Get<MountPropagation>(nameof(StagedMount.Propagation)),
            StageName = Get<string>(nameof(StagedMount.StageName)),
            StageContainer = Get<string>(nameof(StagedMount.StageContainer)),
            State = Get<StagedMountState>(nameof(StagedMount.State)),
            Target = Get<string>(nameof(StagedMount.Target)),
            NamespaceProcessId = Get<int?>(nameof(StagedMount.NamespaceProcessId)),
            NamespaceProcessStartTime = Get<ulong?>(nameof(StagedMount.NamespaceProcessStartTime)),
            MountNamespaceId = Get<ulong?>(nameof(StagedMount.MountNamespaceId)),
            CreatedPaths = Get<string[]>(nameof(StagedMount.CreatedPaths)) ?? Array.Empty<string>(),
            ReplacedMountId = Get<ulong?>(nameof(StagedMount.ReplacedMountId)),
        });
    }
}
