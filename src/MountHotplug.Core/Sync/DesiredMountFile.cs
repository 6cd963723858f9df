using System.Text.Json;

namespace MountHotplug.Sync;

/// <summary>Entries from a JSON document: an array of objects, or an object whose "mounts" property is one.</summary>
public static class DesiredMountFile
{
    /// <summary>The entries of <paramref name="json"/> as field/value pairs (strings, booleans, numbers, null).</summary>
    /// <exception cref="FormatException">The text is not JSON, or not an array of entries.</exception>
    public static IReadOnlyList<IReadOnlyList<KeyValuePair<string, object?>>> ReadJson(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"It is not JSON: {ex.Message}", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                root = root.EnumerateObject().FirstOrDefault(p => string.Equals(p.Name, "mounts", StringComparison.OrdinalIgnoreCase)).Value;
            }

            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("It holds no list of entries: write an array of objects, or an object whose \"mounts\" property is one.");
            }

            return root.EnumerateArray().Select(Fields).ToList();
        }
    }

    private static IReadOnlyList<KeyValuePair<string, object?>> Fields(JsonElement entry) =>
        entry.ValueKind == JsonValueKind.Object
            ? entry.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, Value(p.Value))).ToList()
            : [new KeyValuePair<string, object?>("Path", Value(entry))];

    private static object? Value(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.Number when value.TryGetInt64(out long number) => number,
        _ => value.GetRawText(),
    };
}
