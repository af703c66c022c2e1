using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>Small helpers to read tokenizer.json fields with errors that name the file and the field.</summary>
internal static class JsonRead
{
    public static string Type(JsonElement element, string path, string field) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new InvalidDataException($"{path}: {field} has no 'type'.");

    public static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static bool Bool(JsonElement element, string name, bool fallback) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => fallback,
        } : fallback;

    public static int Int(JsonElement element, string name, int fallback) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n) ? n : fallback;

    /// <summary>A pattern object: {"String": "..."} (literal) or {"Regex": "..."}.</summary>
    public static CodePointRegex Pattern(JsonElement element, string path, string field)
    {
        if (element.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object)
        {
            if (String(pattern, "String") is string literal)
                return new CodePointRegex(System.Text.RegularExpressions.Regex.Escape(literal), path);
            if (String(pattern, "Regex") is string regex)
                return new CodePointRegex(regex, path);
        }
        throw new InvalidDataException($"{path}: {field}.pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}.");
    }

    public static IEnumerable<(JsonElement Element, string Field)> Items(JsonElement element, string name, string path, string field)
    {
        if (!element.TryGetProperty(name, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: {field}.{name} must be an array.");
        int i = 0;
        foreach (var item in array.EnumerateArray())
            yield return (item, $"{field}.{name}[{i++}]");
    }
}
