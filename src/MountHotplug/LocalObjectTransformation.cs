using System.Management.Automation;

namespace MountHotplug;

/// <summary>
/// Turns a deserialized ContainerNamespace or StagedMount (what Invoke-Command, Start-Job or Import-Clixml give back) into a
/// clear error. Those objects own descriptors of one host's kernel: a copy that crossed a process or a host is only a
/// description, and binding it would otherwise fail with PowerShell's generic "cannot convert" message.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class LocalObjectTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        foreach (object item in LanguagePrimitives.GetEnumerable(inputData)?.Cast<object>() ?? new[] { inputData })
        {
            if (item is PSObject wrapper
                && wrapper.TypeNames.FirstOrDefault(t => t.StartsWith("Deserialized.MountHotplug.", StringComparison.Ordinal)) is { } typeName)
            {
                string type = typeName["Deserialized.MountHotplug.".Length..];
                throw new ArgumentTransformationMetadataException(
                    $"This {type} was deserialized (it came from another process or host, e.g. through Invoke-Command or Import-Clixml). "
                    + $"A {type} owns a descriptor of the host it was made on and cannot cross hosts or processes: run the whole pipeline on the container's host, "
                    + "for example Invoke-Command -ComputerName host { $ct = Get-ContainerNamespace … ; New-StagedMount … | Move-MountIntoNamespace -Namespace $ct … }.");
            }
        }

        return inputData;
    }
}
