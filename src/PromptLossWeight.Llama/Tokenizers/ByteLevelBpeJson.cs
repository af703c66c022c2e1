using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> that holds a byte-level BPE (GPT-2, Llama 3 and similar) and turns it
/// into tiktoken ranks, which Microsoft.ML.Tokenizers 2.0.1 can load: each token's byte-level characters become
/// bytes and its id becomes its rank. That is exact when every merge produces a token with a larger id than the
/// merges before it, which the reader checks. Other tokenizer.json models (WordPiece, Unigram, SentencePiece-style
/// BPE with byte fallback) are reported as not supported.
/// </summary>
internal static class ByteLevelBpeJson
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Loads the file; throws <see cref="InvalidDataException"/> (naming the file) when it cannot.</summary>
    public static ChatTokenizer Load(string path, TokenizerConfig? config, List<string> notes)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: no 'model' object.");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
            if (type != "BPE")
                throw new InvalidDataException($"{path}: model type '{type}' is not supported; only byte-level BPE tokenizer.json files are.");
            if (model.TryGetProperty("byte_fallback", out var fallback) && fallback.ValueKind == JsonValueKind.True)
                throw new InvalidDataException(
                    $"{path}: a SentencePiece-style BPE (byte_fallback), which Microsoft.ML.Tokenizers 2.0.1 cannot load from tokenizer.json; provide the SentencePiece tokenizer.model instead.");
            bool byteLevel = (root.TryGetProperty("pre_tokenizer", out var pre) && Mentions(pre, "ByteLevel"))
                || (root.TryGetProperty("decoder", out var decoder) && Mentions(decoder, "ByteLevel"));
            if (!byteLevel)
                throw new InvalidDataException($"{path}: the BPE is not byte-level (no ByteLevel pre-tokenizer or decoder); it is not supported.");

            if (pre.ValueKind != JsonValueKind.Undefined && AddsPrefixSpace(pre))
                notes.Add($"{path}: the ByteLevel pre-tokenizer's add_prefix_space is not applied (text is encoded as given).");
            var vocab = ReadVocabulary(model, path);
            var added = ReadAddedTokens(root, path);
            string pattern = (root.TryGetProperty("pre_tokenizer", out var preTokenizer) ? FindPattern(preTokenizer) : null) ?? Gpt2Pattern;
            byte[] ranks = ToTiktoken(vocab, added, ReadMerges(model, path), path);

            var special = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (content, id) in added)
                special[content] = id;
            string? bos = config?.BosToken, eos = config?.EosToken;
            if (bos is null || eos is null)
                notes.Add($"{path}: no {(bos is null ? "bos_token" : "eos_token")} in tokenizer_config.json; the tokenizer has none.");
            foreach (var (name, token) in new[] { ("bos_token", bos), ("eos_token", eos) })
            {
                if (token is not null && !special.ContainsKey(token))
                    throw new InvalidDataException($"{path}: tokenizer_config.json {name} '{token}' is not an added token of tokenizer.json.");
            }
            try
            {
                return ChatTokenizer.LoadTiktoken(ranks, path, special, bos, eos, pattern);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
        }
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

    private static List<(string Left, string Right)> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: model.merges is missing or not an array.");
        int index = 0;
        foreach (var merge in array.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ') is [var a, var b])
                merges.Add((a, b));
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
                merges.Add((merge[0].GetString() ?? "", merge[1].GetString() ?? ""));
            else
                throw new InvalidDataException($"{path}: model.merges[{index}] is not a pair.");
            index++;
        }
        return merges;
    }

    private static List<(string Content, int Id)> ReadAddedTokens(JsonElement root, string path)
    {
        var added = new List<(string, int)>();
        if (!root.TryGetProperty("added_tokens", out var array) || array.ValueKind != JsonValueKind.Array)
            return added;
        int index = 0;
        foreach (var token in array.EnumerateArray())
        {
            if (!token.TryGetProperty("id", out var id) || !id.TryGetInt32(out int value)
                || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{path}: added_tokens[{index}] needs an integer 'id' and a string 'content'.");
            added.Add((content.GetString()!, value));
            index++;
        }
        return added;
    }

    private static byte[] ToTiktoken(Dictionary<string, int> vocab, List<(string Content, int Id)> added, List<(string Left, string Right)> merges, string path)
    {
        var byteOf = ByteLevelAlphabet.CharToByte;
        var addedIds = added.Select(a => a.Id).ToHashSet();
        var text = new StringBuilder();
        var singleBytes = new HashSet<byte>();
        foreach (var (token, id) in vocab.OrderBy(kv => kv.Value))
        {
            if (addedIds.Contains(id))
                continue;
            var bytes = new byte[token.Length];
            for (int i = 0; i < token.Length; i++)
            {
                if (!byteOf.TryGetValue(token[i], out bytes[i]))
                    throw new InvalidDataException($"{path}: vocabulary token '{token}' (id {id}) is not byte-level text.");
            }
            if (bytes.Length == 1)
                singleBytes.Add(bytes[0]);
            text.Append(Convert.ToBase64String(bytes)).Append(' ').Append(id).Append('\n');
        }
        if (singleBytes.Count != 256)
            throw new InvalidDataException($"{path}: the vocabulary lacks {256 - singleBytes.Count} of the 256 single-byte tokens a byte-level BPE needs.");

        int previous = -1;
        for (int i = 0; i < merges.Count; i++)
        {
            var (left, right) = merges[i];
            if (!vocab.TryGetValue(left + right, out int id))
                throw new InvalidDataException($"{path}: merge {i} ('{left} {right}') makes '{left + right}', which is not in the vocabulary.");
            if (id <= previous)
                throw new InvalidDataException(
                    $"{path}: merge {i} ('{left} {right}') makes id {id}, not larger than the id {previous} of the merge before; token ids do not follow merge order, so it cannot be loaded as tiktoken ranks.");
            previous = id;
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static string? FindPattern(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            if (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "Split"
                && element.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object
                && pattern.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String)
                return regex.GetString();
            return element.EnumerateObject().Select(p => FindPattern(p.Value)).FirstOrDefault(p => p is not null);
        }
        if (element.ValueKind == JsonValueKind.Array)
            return element.EnumerateArray().Select(FindPattern).FirstOrDefault(p => p is not null);
        return null;
    }

    private static bool AddsPrefixSpace(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => (element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "ByteLevel"
                && element.TryGetProperty("add_prefix_space", out var add) && add.ValueKind == JsonValueKind.True)
            || element.EnumerateObject().Any(p => AddsPrefixSpace(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().Any(AddsPrefixSpace),
        _ => false,
    };

    private static bool Mentions(JsonElement element, string typeName) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().Any(p =>
            (p.Name == "type" && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == typeName)
            || Mentions(p.Value, typeName)),
        JsonValueKind.Array => element.EnumerateArray().Any(e => Mentions(e, typeName)),
        _ => false,
    };
}
