using System.Text;
using Microsoft.ML.Tokenizers;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

/// <summary>
/// Tiny tokenizer files written by the tests: a Llama-2-style SentencePiece BPE model (unk, BOS, EOS, 256 byte
/// pieces for byte fallback, a few merges) and a tiktoken file (256 bytes plus a few merges).
/// </summary>
internal static class TestTokenizers
{
    // Merged pieces, best first. Some of them make text like "</s>" or "<0x41>" mergeable into reserved pieces.
    private static readonly string[] Merges =
    [
        "\u2581t", "he", "\u2581the", "\u2581h", "ll", "llo", "\u2581he", "\u2581hello", "or", "\u2581w", "\u2581wor", "ld", "\u2581world",
        "\u2581a", "an", "\u2581an", "sw", "er", "swer", "\u2581answer", "[I", "NS", "T]", "[INS", "[INST]", "[/", "INS", "INST]", "[/INST]",
        "<<", ">>", "</", "s>", "<s", "<u", "nk", "<unk", "k>", "<0", "<0x", "<0x4", "1>",
    ];

    private const string Characters = "\u2581abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?<>/[]|_-:'";

    /// <summary>The number of pieces of <see cref="SentencePieceModelBytes"/>.</summary>
    public static int SentencePieceVocabSize => 3 + 256 + Merges.Length + Characters.Length;

    /// <summary>The pieces of <see cref="SentencePieceModelBytes"/> and their ids.</summary>
    public static IReadOnlyDictionary<string, int> SentencePieceVocabulary { get; } =
        new[] { "<unk>", "<s>", "</s>" }.Concat(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>")).Concat(Merges)
            .Concat(Characters.Select(c => c.ToString())).Select((piece, id) => (piece, id)).ToDictionary(p => p.piece, p => p.id);

    /// <summary>A SentencePiece ModelProto (BPE = 2 or unigram = 1, byte fallback, identity normalizer with dummy prefix).</summary>
    public static byte[] SentencePieceModelBytes(int modelType = 2)
    {
        var model = new ProtoWriter();
        void Piece(string text, float score, int type) =>
            model.Message(1, new ProtoWriter().String(1, text).Float(2, score).Int(3, type));
        Piece("<unk>", 0, 2);
        Piece("<s>", 0, 3);
        Piece("</s>", 0, 3);
        for (int b = 0; b < 256; b++)
            Piece($"<0x{b:X2}>", 0, 6);
        float score = 0;
        foreach (string merge in Merges)
            Piece(merge, score--, 1);
        foreach (char c in Characters)
            Piece(c.ToString(), score--, 1);
        model.Message(2, new ProtoWriter().Int(3, modelType).Int(4, SentencePieceVocabSize).Int(35, 1)
            .Int(40, 0).Int(41, 1).Int(42, 2).Int(43, -1));
        model.Message(3, new ProtoWriter().String(1, "identity").Int(3, 1).Int(4, 0).Int(5, 1));
        return model.ToArray();
    }

    /// <summary>Ranks of a tiny byte-level BPE: the 256 bytes, then merges.</summary>
    public static readonly (string Left, string Right)[] TiktokenMergePairs =
    [
        ("h", "e"), ("l", "l"), ("ll", "o"), ("he", "llo"), (" ", "w"), ("o", "r"), (" w", "or"), ("l", "d"), (" wor", "ld"),
        ("e", "r"), ("u", "s"), ("us", "er"), ("\n", "\n"),
    ];

    /// <summary>The merged tokens, ranks 256 onwards.</summary>
    public static readonly string[] TiktokenMerges = TiktokenMergePairs.Select(p => p.Left + p.Right).ToArray();

    /// <summary>A tiktoken file: one "base64 rank" line per token.</summary>
    public static byte[] TiktokenFileBytes()
    {
        var text = new StringBuilder();
        for (int b = 0; b < 256; b++)
            text.Append(Convert.ToBase64String([(byte)b])).Append(' ').Append(b).Append('\n');
        int rank = 256;
        foreach (string merge in TiktokenMerges)
            text.Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(merge))).Append(' ').Append(rank++).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>The number of ranks of <see cref="TiktokenFileBytes"/>.</summary>
    public static int TiktokenRankCount => 256 + TiktokenMerges.Length;

    /// <summary>Writes the SentencePiece model to a file and loads it.</summary>
    public static HfTokenizer LoadSentencePiece(TempFolder folder) =>
        HfTokenizer.LoadSentencePiece(folder.Write("tokenizer.model", SentencePieceModelBytes()));

    /// <summary>Writes the tiktoken file to a file and loads it as a Llama-3 tokenizer.</summary>
    public static HfTokenizer LoadLlama3(TempFolder folder) =>
        HfTokenizer.LoadLlama3(folder.Write("tokenizer.model", TiktokenFileBytes()));

    /// <summary>The real GPT-2 tokenizer with the two ChatML special tokens added after its vocabulary.</summary>
    public static HfTokenizer Gpt2WithChatML()
    {
        var extra = new Dictionary<string, int> { ["<|im_start|>"] = 50257, ["<|im_end|>"] = 50258 };
        var gpt2 = TiktokenTokenizer.CreateForModel("gpt2", extra);
        return HfTokenizer.FromTokenizer(gpt2, eosToken: "<|endoftext|>", vocabSize: 50259, source: "gpt2");
    }
}

/// <summary>A temporary folder deleted at dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "plw-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, byte[] bytes)
    {
        string path = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
