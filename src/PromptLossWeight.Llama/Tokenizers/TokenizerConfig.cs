using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> the loader uses: <c>bos_token</c>, <c>eos_token</c>
/// (a string or an object with <c>content</c>) and <c>added_tokens_decoder</c> (id → <c>content</c>).
/// </summary>
internal sealed record TokenizerConfig(string? BosToken, string? EosToken, IReadOnlyDictionary<int, string> AddedTokens)
{
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
            return new TokenizerConfig(Optional(root, "bos_token", path), Optional(root, "eos_token", path), added);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
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
