using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>An entry of tokenizer.json's <c>added_tokens</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool Normalized, bool LeftStrip, bool RightStrip, bool SingleWord)
{
    public static List<AddedToken> Read(JsonElement root, string path)
    {
        var tokens = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var array) || array.ValueKind != JsonValueKind.Array)
            return tokens;
        foreach (var (token, field) in JsonRead.Items(root, "added_tokens", path, ""))
        {
            if (!token.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value) || value < 0
                || JsonRead.String(token, "content") is not { Length: > 0 } content)
                throw new InvalidDataException($"{path}: {field.TrimStart('.')} needs a non-negative integer 'id' and a non-empty string 'content'.");
            bool special = JsonRead.Bool(token, "special", false);
            tokens.Add(new AddedToken(value, content, special, JsonRead.Bool(token, "normalized", !special),
                JsonRead.Bool(token, "lstrip", false), JsonRead.Bool(token, "rstrip", false), JsonRead.Bool(token, "single_word", false)));
        }
        return tokens;
    }
}

/// <summary>
/// Finds added tokens in text as the Hugging Face tokenizers library does: leftmost match first, the longest
/// token at that position, with <c>lstrip</c>/<c>rstrip</c> taking the whitespace beside it and <c>single_word</c>
/// matching only between word boundaries.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenSplitter(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens.GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>The text cut into runs of plain text (Id null) and added tokens (their id), in order.</summary>
    public List<(int Start, string Text, int? Id)> Split(string text)
    {
        var result = new List<(int, string, int?)>();
        int plainStart = 0, position = 0;
        while (position < text.Length)
        {
            var match = MatchAt(text, position);
            if (match is not var (start, end, id))
            {
                position++;
                continue;
            }
            if (start > plainStart)
                result.Add((plainStart, text[plainStart..start], null));
            result.Add((start, text[start..end], id));
            plainStart = position = end;
        }
        if (plainStart < text.Length)
            result.Add((plainStart, text[plainStart..], null));
        return result;
    }

    private (int Start, int End, int Id)? MatchAt(string text, int position)
    {
        if (!_byFirstChar.TryGetValue(text[position], out var candidates))
            return null;
        foreach (var token in candidates)
        {
            if (position + token.Content.Length > text.Length || string.CompareOrdinal(text, position, token.Content, 0, token.Content.Length) != 0)
                continue;
            int end = position + token.Content.Length;
            if (token.SingleWord && ((position > 0 && IsWordChar(text[position - 1])) || (end < text.Length && IsWordChar(text[end]))))
                continue;
            int start = position;
            if (token.LeftStrip)
                while (start > 0 && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RightStrip)
                while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            return (start, end, token.Id);
        }
        return null;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
