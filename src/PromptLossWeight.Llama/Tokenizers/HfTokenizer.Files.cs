using System.Text.RegularExpressions;
using PromptLossWeight.Llama.Tokenizers.Json;

namespace PromptLossWeight.Llama.Tokenizers;

public sealed partial class HfTokenizer
{
    /// <summary>
    /// Loads a Hugging Face <c>tokenizer.json</c> with a BPE model: byte-level (Llama 3, Qwen, DeepSeek) or
    /// SentencePiece-style with byte fallback (Llama 2, Mistral, Gemma), with its normalizer, pre-tokenizer
    /// (including its Split regex), merges by rank, added tokens and decoder. Added tokens marked special become the
    /// special tokens; BOS and EOS are named by <paramref name="bosToken"/>/<paramref name="eosToken"/> (usually from
    /// tokenizer_config.json; see <see cref="TokenizerLoader"/>). Throws <see cref="FileNotFoundException"/>,
    /// <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> naming the file and the field.
    /// </summary>
    public static HfTokenizer LoadTokenizerJson(string path, string? bosToken = null, string? eosToken = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        var json = TokenizerJson.Load(path);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in json.AddedTokens.Where(t => t.Special))
            special[token.Content] = token.Id;
        foreach (var (name, token) in new[] { ("bos_token", bosToken), ("eos_token", eosToken) })
        {
            if (token is not null && !special.ContainsKey(token))
                throw new InvalidDataException($"{path}: {name} '{token}' is not a special added token of this tokenizer.json.");
        }
        return new HfTokenizer(json, TokenizerKind.TokenizerJson, path, special, bosToken, eosToken, json.VocabSize, json.UnknownId);
    }

    /// <summary>
    /// Loads a plain vocabulary file: one token per line, the line number (from 0) is the id; empty lines are ids
    /// too. Text is split at whitespace into words (runs of letters, marks, digits and '_') and single other
    /// characters (every punctuation mark and symbol, '+' included, is its own piece); each piece is its token.
    /// Whitespace only separates pieces and is not encoded; <see cref="Decode"/> joins tokens with one space.
    /// A piece that is not in the vocabulary becomes <paramref name="unknownToken"/>'s id when one is given, and
    /// otherwise fails with an <see cref="InvalidOperationException"/> naming the piece and the file: no character is
    /// ever dropped silently. <paramref name="specialTokens"/> (and BOS/EOS) must be lines of the file.
    /// </summary>
    public static HfTokenizer LoadVocabulary(
        string path, IEnumerable<string>? specialTokens = null, string? unknownToken = null, string? bosToken = null, string? eosToken = null)
    {
        byte[] bytes = ReadFile(path);
        string[] lines = System.Text.Encoding.UTF8.GetString(bytes).Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        if (lines.Length > 0 && lines[^1].Length == 0)
            lines = lines[..^1];
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length > 0 && !vocabulary.TryAdd(lines[i], i))
                throw new InvalidDataException($"{path}:{i + 1}: token '{lines[i]}' already appeared on line {vocabulary[lines[i]] + 1}.");
        }
        int Id(string token, string what) => vocabulary.TryGetValue(token, out int id)
            ? id
            : throw new InvalidDataException($"{path}: the {what} '{token}' is not a line of the vocabulary.");
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string token in (specialTokens ?? []).Concat(new[] { bosToken, eosToken }.OfType<string>()))
            special[token] = Id(token, "special token");
        int? unknown = unknownToken is null ? null : Id(unknownToken, "unknown token");
        if (unknownToken is not null)
            special.Remove(unknownToken);
        var encoder = new VocabularyEncoder(vocabulary, lines, unknown, path);
        return new HfTokenizer(encoder, TokenizerKind.Vocabulary, path, special, bosToken, eosToken, Math.Max(lines.Length, 1), unknown);
    }

    /// <summary>
    /// The pieces <see cref="LoadVocabulary"/> splits <paramref name="text"/> into, in order: each would be one token.
    /// Use it to count words when writing a vocabulary file for that tokenizer.
    /// </summary>
    public static IEnumerable<string> VocabularyPieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return VocabularyEncoder.Pieces().Matches(text).Select(m => m.Value);
    }
}

/// <summary>The word-level encoder of <see cref="HfTokenizer.LoadVocabulary"/>.</summary>
internal sealed partial class VocabularyEncoder(Dictionary<string, int> vocabulary, string[] tokens, int? unknownId, string source) : ITextEncoder
{
    [GeneratedRegex(@"[\p{L}\p{M}\p{N}_]+|[\uD800-\uDBFF][\uDC00-\uDFFF]|\S")]
    internal static partial Regex Pieces();

    public IReadOnlyList<int> Encode(string text, bool atStart)
    {
        var ids = new List<int>();
        foreach (Match piece in Pieces().Matches(text))
        {
            if (vocabulary.TryGetValue(piece.Value, out int id))
                ids.Add(id);
            else if (unknownId is int unknown)
                ids.Add(unknown);
            else
                throw new InvalidOperationException($"{source}: '{piece.Value}' (at character {piece.Index} of the text) is not in the vocabulary, and no unknown token was given.");
        }
        return ids;
    }

    public string Decode(IReadOnlyList<int> ids, bool atStart) => string.Join(' ', ids.Select(id => tokens[id]));
}
