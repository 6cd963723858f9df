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
            return StagedMount.FromDeserialized(single);
        }

        if (inputData is object[] items && items.Any(item => item is PSObject wrapper && IsDeserialized(wrapper)))
        {
            return items.Select(item => item is PSObject wrapper && IsDeserialized(wrapper) ? StagedMount.FromDeserialized(wrapper) : item).ToArray();
        }

        return inputData;
    }

    private static bool IsDeserialized(PSObject wrapper) => wrapper.TypeNames.Contains(TypeName);
}
