using System.Text.Json;

namespace MountHotplug.Staging;

/// <summary>
/// What New-StagedMount -StageName recorded beside a kept mount, so Get-StagedMount can describe it later. For a new
/// filesystem also its type and fsconfig parameters (absent from records of a clone, and from those written before).
/// </summary>
public sealed record StageRecord(
    string Source,
    bool IsDirectory,
    bool Recurse,
    ulong Attributes,
    string Propagation,
    ulong? IdMapUserNamespace,
    DateTime Created,
    int CreatedBy,
    string? FileSystem = null,
    IReadOnlyList<string>? FileSystemOptions = null)
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    internal MountAttributes AttributeFlags => (MountAttributes)Attributes;

    internal MountPropagation PropagationValue => Enum.TryParse(Propagation, out MountPropagation p) ? p : MountPropagation.Private;

    internal string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Null for a record that cannot be read (written by another version, or damaged).</summary>
    internal static StageRecord? FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<StageRecord>(json, Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
