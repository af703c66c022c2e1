using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// The BPE model of tokenizer.json as the Hugging Face tokenizers library applies it to one pre-tokenized piece:
/// the piece's characters become symbols (a character without a token becomes its UTF-8 byte tokens
/// "&lt;0xNN&gt;" with byte_fallback, else the unknown token, fused with <c>fuse_unk</c>), then the adjacent pair whose
/// merge comes first in the merges list is merged (the leftmost among equals) until no pair has a merge. With
/// <c>ignore_merges</c> a piece that is itself a token is taken whole. Merges are ranked by their position in the
/// list, never by the ids of the tokens they make.
/// </summary>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Id)> _merges = [];
    private readonly int[] _byteIds = new int[256];
    private readonly bool _byteFallback, _fuseUnknown, _ignoreMerges;
    private readonly int? _unknownId;
    private readonly string _source;

    public BpeModel(JsonElement model, string path)
    {
        _source = path;
        _vocab = ReadVocabulary(model, path);
        _byteFallback = JsonRead.Bool(model, "byte_fallback", false);
        _fuseUnknown = JsonRead.Bool(model, "fuse_unk", false);
        _ignoreMerges = JsonRead.Bool(model, "ignore_merges", false);
        if (!string.IsNullOrEmpty(JsonRead.String(model, "continuing_subword_prefix")) || !string.IsNullOrEmpty(JsonRead.String(model, "end_of_word_suffix")))
            throw new NotSupportedException($"{path}: model.continuing_subword_prefix / end_of_word_suffix are not supported.");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw new NotSupportedException($"{path}: model.dropout is not supported (encoding would not be deterministic).");
        if (JsonRead.String(model, "unk_token") is string unknown)
        {
            _unknownId = _vocab.TryGetValue(unknown, out int id) ? id
                : throw new InvalidDataException($"{path}: model.unk_token '{unknown}' is not in model.vocab.");
        }
        for (int b = 0; b < 256; b++)
            _byteIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        int rank = 0;
        foreach (var (left, right, field) in ReadMerges(model, path))
        {
            if (!_vocab.TryGetValue(left, out int a) || !_vocab.TryGetValue(right, out int b) || !_vocab.TryGetValue(left + right, out int merged))
                throw new InvalidDataException($"{path}: {field} ('{left} {right}') names a token that is not in model.vocab.");
            _merges.TryAdd((a, b), (rank++, merged));
        }
        UnknownId = _unknownId;
    }

    /// <summary>The id of the unknown token, when the model has one.</summary>
    public int? UnknownId { get; }

    /// <summary>The model's vocabulary (token text to id).</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _vocab;

    /// <summary>Appends the ids of one pre-tokenized piece.</summary>
    public void Encode(string piece, List<int> ids)
    {
        if (piece.Length == 0)
            return;
        if (_ignoreMerges && _vocab.TryGetValue(piece, out int whole))
        {
            ids.Add(whole);
            return;
        }
        var symbols = Symbols(piece);
        Merge(symbols);
        foreach (var symbol in symbols)
        {
            if (symbol.Id >= 0)
                ids.Add(symbol.Id);
        }
    }

    private List<Symbol> Symbols(string piece)
    {
        var symbols = new List<Symbol>(piece.Length);
        for (int i = 0; i < piece.Length; i++)
        {
            int length = char.IsHighSurrogate(piece[i]) && i + 1 < piece.Length && char.IsLowSurrogate(piece[i + 1]) ? 2 : 1;
            string character = piece.Substring(i, length);
            i += length - 1;
            if (_vocab.TryGetValue(character, out int id))
            {
                symbols.Add(new Symbol(id));
                continue;
            }
            if (_byteFallback)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(character);
                if (bytes.All(b => _byteIds[b] >= 0))
                {
                    foreach (byte b in bytes)
                        symbols.Add(new Symbol(_byteIds[b]));
                    continue;
                }
            }
            if (_unknownId is not int unknown)
                throw new InvalidOperationException($"{_source}: the character '{character}' (U+{char.ConvertToUtf32(character, 0):X4}) has no token and the model has no unk_token.");
            if (_fuseUnknown && symbols.Count > 0 && symbols[^1].IsUnknown)
                continue;
            symbols.Add(new Symbol(unknown) { IsUnknown = true });
        }
        return symbols;
    }

    /// <summary>Merges in place: the pair with the lowest rank first, the leftmost among equal ranks.</summary>
    private void Merge(List<Symbol> symbols)
    {
        int n = symbols.Count;
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId, int NewId), (int Rank, int Left)>();
        void MaybeAdd(int left)
        {
            if (left < 0 || next[left] < 0)
                return;
            int right = next[left];
            if (_merges.TryGetValue((symbols[left].Id, symbols[right].Id), out var merge))
                queue.Enqueue((left, right, symbols[left].Id, symbols[right].Id, merge.Id), (merge.Rank, left));
        }
        for (int i = 0; i < n - 1; i++)
            MaybeAdd(i);
        while (queue.TryDequeue(out var top, out _))
        {
            if (symbols[top.Left].Id != top.LeftId || next[top.Left] != top.Right || symbols[top.Right].Id != top.RightId)
                continue;
            symbols[top.Left] = new Symbol(top.NewId);
            symbols[top.Right] = new Symbol(-1);
            next[top.Left] = next[top.Right];
            if (next[top.Right] >= 0)
                prev[next[top.Right]] = top.Left;
            next[top.Right] = -2;
            MaybeAdd(prev[top.Left]);
            MaybeAdd(top.Left);
        }
    }

    private record struct Symbol(int Id)
    {
        public bool IsUnknown { get; init; }
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: model.vocab is missing or not an object.");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{path}: model.vocab['{entry.Name}'] is not a token id.");
            result[entry.Name] = id;
        }
        return result;
    }

    private static IEnumerable<(string Left, string Right, string Field)> ReadMerges(JsonElement model, string path)
    {
        if (!model.TryGetProperty("merges", out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: model.merges is missing or not an array.");
        int index = 0;
        foreach (var merge in array.EnumerateArray())
        {
            string field = $"model.merges[{index++}]";
            if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ') is [var a, var b])
                yield return (a, b, field);
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                yield return (merge[0].GetString()!, merge[1].GetString()!, field);
            else
                throw new InvalidDataException($"{path}: {field} is not a pair of tokens.");
        }
    }
}
