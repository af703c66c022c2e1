using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a BPE model, encoded as the tokenizers library does: added tokens
/// that are not special are found first (those with <c>normalized: false</c> in the raw text, the others after
/// normalization), the rest is normalized, pre-tokenized and encoded piece by piece by <see cref="BpeModel"/>.
/// Special added tokens are never matched in text: their text stays text (the chat templates insert them by id).
/// </summary>
internal sealed class TokenizerJson : ITextEncoder
{
    private readonly Func<string, bool, string> _normalize;
    private readonly Func<List<Piece>, List<Piece>> _preTokenize;
    private readonly Func<List<string>, bool, List<string>> _decode;
    private readonly BpeModel _model;
    private readonly AddedTokenSplitter _raw, _normalized;
    private readonly Dictionary<int, string> _tokenById = [];

    private TokenizerJson(JsonElement root, string path)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: no 'model' object.");
        string type = JsonRead.String(model, "type") ?? "BPE";
        if (type != "BPE")
            throw new NotSupportedException($"{path}: model.type '{type}' is not supported; only BPE tokenizer.json files are (byte-level like Llama 3 and Qwen, or SentencePiece-style like Llama 2 and Gemma).");
        _model = new BpeModel(model, path);
        _normalize = Normalizers.Create(Property(root, "normalizer"), path, "normalizer");
        _preTokenize = PreTokenizers.Create(Property(root, "pre_tokenizer"), path, "pre_tokenizer");
        _decode = Decoders.Create(Property(root, "decoder"), path, "decoder");
        AddedTokens = AddedToken.Read(root, path);
        var plain = AddedTokens.Where(t => !t.Special).ToList();
        _raw = new AddedTokenSplitter(plain.Where(t => !t.Normalized));
        _normalized = new AddedTokenSplitter(plain.Where(t => t.Normalized));
        foreach (var (token, id) in _model.Vocabulary)
            _tokenById[id] = token;
        foreach (var added in AddedTokens)
            _tokenById[added.Id] = added.Content;
        VocabSize = _tokenById.Keys.Max() + 1;
    }

    /// <summary>The added tokens (special and not).</summary>
    public List<AddedToken> AddedTokens { get; }

    /// <summary>One more than the largest id.</summary>
    public int VocabSize { get; }

    /// <summary>The id of the model's unknown token, if any.</summary>
    public int? UnknownId => _model.UnknownId;

    /// <summary>Reads the file; errors name it and the field.</summary>
    public static TokenizerJson Load(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: expected a JSON object.");
            return new TokenizerJson(document.RootElement, path);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    private static JsonElement Property(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) ? value : default;

    public IReadOnlyList<int> Encode(string text, bool atStart)
    {
        var ids = new List<int>();
        foreach (var (start, raw, rawId) in _raw.Split(text))
        {
            if (rawId is int id)
            {
                ids.Add(id);
                continue;
            }
            string normalized = _normalize(raw, atStart || start > 0);
            foreach (var (offset, part, partId) in _normalized.Split(normalized))
            {
                if (partId is int added)
                {
                    ids.Add(added);
                    continue;
                }
                bool first = start == 0 && offset == 0;
                foreach (var piece in _preTokenize([new Piece(part, first && atStart, first && !atStart)]))
                    _model.Encode(piece.Text, ids);
            }
        }
        return ids;
    }

    public string Decode(IReadOnlyList<int> ids, bool atStart) =>
        string.Concat(_decode(ids.Select(id => _tokenById.TryGetValue(id, out var token) ? token : "").ToList(), atStart));
}
