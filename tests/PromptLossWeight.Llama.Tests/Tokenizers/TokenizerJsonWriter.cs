using System.Text;
using System.Text.Json;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

/// <summary>Writes a Hugging Face byte-level BPE tokenizer.json with the same ranks as <see cref="TestTokenizers.TiktokenFileBytes"/>.</summary>
internal static class TokenizerJsonWriter
{
    /// <summary>GPT-2's printable stand-in character for each byte.</summary>
    public static char ByteChar(byte b)
    {
        int shifted = 0;
        for (int i = 0; i < 256; i++)
        {
            bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
            if (i == b)
                return printable ? (char)i : (char)(256 + shifted);
            if (!printable)
                shifted++;
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }

    public static string ByteLevel(string text) => string.Concat(Encoding.UTF8.GetBytes(text).Select(ByteChar));

    /// <summary>The byte-level vocabulary of <see cref="Write"/>: 256 bytes, then the merged tokens (in reverse order if asked).</summary>
    public static Dictionary<string, int> Vocabulary(bool reverseMergeIds = false)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
            vocab[ByteChar((byte)b).ToString()] = b;
        var pairs = TestTokenizers.TiktokenMergePairs;
        for (int i = 0; i < pairs.Length; i++)
            vocab[ByteLevel(pairs[i].Left + pairs[i].Right)] = 256 + (reverseMergeIds ? pairs.Length - 1 - i : i);
        return vocab;
    }

    /// <summary>The vocabulary of <see cref="WriteSentencePieceStyle"/>.</summary>
    public static Dictionary<string, int> SentencePieceStyleVocabulary { get; } =
        new[] { "<unk>", "<s>", "</s>" }.Concat(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"))
            .Concat(["\u2581", "a", "b", "ab", "\u2581a", "\u2581ab"]).Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);

    /// <summary>A Llama-2-style tokenizer.json: Prepend/Replace normalizer, byte fallback, Replace/ByteFallback/Fuse/Strip decoder.</summary>
    public static string WriteSentencePieceStyle()
    {
        object Replace(string from, string to) => new Dictionary<string, object> { ["type"] = "Replace", ["pattern"] = new Dictionary<string, string> { ["String"] = from }, ["content"] = to };
        var document = new Dictionary<string, object>
        {
            ["added_tokens"] = new[] { "<unk>", "<s>", "</s>" }.Select((t, i) => new Dictionary<string, object> { ["id"] = i, ["content"] = t, ["special"] = true }).ToArray(),
            ["normalizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["normalizers"] = new[] { new Dictionary<string, object> { ["type"] = "Prepend", ["prepend"] = "\u2581" }, Replace(" ", "\u2581") },
            },
            ["pre_tokenizer"] = null!,
            ["decoder"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["decoders"] = new[]
                {
                    Replace("\u2581", " "), new Dictionary<string, object> { ["type"] = "ByteFallback" }, new Dictionary<string, object> { ["type"] = "Fuse" },
                    new Dictionary<string, object> { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 },
                },
            },
            ["model"] = new Dictionary<string, object>
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["byte_fallback"] = true, ["fuse_unk"] = true,
                ["vocab"] = SentencePieceStyleVocabulary, ["merges"] = new[] { "\u2581 a", "\u2581a b", "a b" },
            },
        };
        return JsonSerializer.Serialize(document);
    }

    public static string Write(bool reverseMergeIds = false, bool addPrefixSpace = false)
    {
        var vocab = Vocabulary(reverseMergeIds);
        var pairs = TestTokenizers.TiktokenMergePairs;
        var merges = pairs.Select(p => ByteLevel(p.Left) + " " + ByteLevel(p.Right)).ToArray();
        int first = TestTokenizers.TiktokenRankCount;
        var added = Llama3Tokens.SpecialTokens(first).Take(10)
            .Select(kv => new Dictionary<string, object> { ["id"] = kv.Value, ["content"] = kv.Key, ["special"] = true })
            .ToArray();
        var document = new Dictionary<string, object>
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["pre_tokenizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new object[]
                {
                    new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = Llama3Tokens.Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = addPrefixSpace, ["use_regex"] = false },
                },
            },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object> { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges },
        };
        return JsonSerializer.Serialize(document);
    }
}
