using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> the loader uses: <c>bos_token</c>, <c>eos_token</c>
/// (a string or an object with <c>content</c>), <c>added_tokens_decoder</c> (id → <c>content</c>), the other
/// <c>*_token</c> strings (template variables) and <c>chat_template</c> (a string, or a list of named templates of
/// which "default" is taken).
/// </summary>
internal sealed record TokenizerConfig(string? BosToken, string? EosToken, IReadOnlyDictionary<int, string> AddedTokens)
{
    /// <summary>The chat template, or null.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Every top-level <c>*_token</c> field that names a token (bos_token, eos_token, unk_token, pad_token, ...).</summary>
    public IReadOnlyDictionary<string, string> TokenFields { get; init; } = new Dictionary<string, string>();

    /// <summary>Reads the file; throws <see cref="InvalidDataException"/> naming it and the field on bad content.</summary>
    public static TokenizerConfig Read(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: expected a JSON object.");
            var added = new Dictionary<int, string>();
            if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out int id) || id < 0)
                        throw new InvalidDataException($"{path}: added_tokens_decoder key '{entry.Name}' is not a token id.");
                    added[id] = TokenText(entry.Value, path, $"added_tokens_decoder.{entry.Name}")
                        ?? throw new InvalidDataException($"{path}: added_tokens_decoder.{entry.Name} has no content.");
                }
            }
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name.EndsWith("_token", StringComparison.Ordinal) && property.Value.ValueKind is JsonValueKind.String or JsonValueKind.Object
                    && TokenText(property.Value, path, property.Name) is string text)
                    fields[property.Name] = text;
            }
            return new TokenizerConfig(Optional(root, "bos_token", path), Optional(root, "eos_token", path), added)
            {
                ChatTemplate = ReadChatTemplate(root, path),
                TokenFields = fields,
            };
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private static string? ReadChatTemplate(JsonElement root, string path)
    {
        if (!root.TryGetProperty("chat_template", out var template) || template.ValueKind == JsonValueKind.Null)
            return null;
        if (template.ValueKind == JsonValueKind.String)
            return template.GetString();
        if (template.ValueKind == JsonValueKind.Array)
        {
            foreach (var entry in template.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name", out var name) && name.GetString() == "default"
                    && entry.TryGetProperty("template", out var text) && text.ValueKind == JsonValueKind.String)
                    return text.GetString();
            }
            throw new InvalidDataException($"{path}: chat_template is a list without a template named 'default'.");
        }
        throw new InvalidDataException($"{path}: chat_template must be a string or a list of {{name, template}}.");
    }

    private static string? Optional(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var value) ? TokenText(value, path, name) : null;

    private static string? TokenText(JsonElement value, string path, string field) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
        _ => throw new InvalidDataException($"{path}: {field} must be a string or an object with a string 'content'."),
    };
}
