using System.Text.Json;
using PromptLossWeight.Llama.Tests.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>SentencePiece BPE models for the exactness tests: trained by SentencePiece, or built from a real vocabulary.</summary>
internal static class SentencePieceModels
{
    /// <summary>
    /// Trains a BPE model with byte fallback (and a user-defined piece) with SentencePiece's own trainer on text from
    /// <see cref="ReferenceCorpus"/>; returns the model path inside <paramref name="folder"/>.
    /// </summary>
    public static string Train(string folder, int vocabSize)
    {
        ReferenceTools.RequirePython("sentencepiece");
        string text = Path.Combine(folder, "train.txt");
        File.WriteAllLines(text, ReferenceCorpus.Generate(6_000, seed: 99).Select(s => s.Replace('\n', ' ').Replace('\r', ' ')));
        string prefix = Path.Combine(folder, "trained");
        ReferenceTools.Run(ReferenceTools.SystemPython, [ReferenceTools.Script("sp-encode.py"), "train", text, prefix, vocabSize.ToString()]);
        return prefix + ".model";
    }

    /// <summary>
    /// A SentencePiece BPE model with the vocabulary of a real SentencePiece-style tokenizer.json (Llama-2 layout:
    /// &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, 256 byte pieces, then normal pieces). Scores follow the merges list: a piece scores
    /// minus the rank of the first merge that makes it, pieces no merge makes score below all of them.
    /// </summary>
    public static byte[] FromTokenizerJson(string tokenizerJson)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        var model = json.RootElement.GetProperty("model");
        var pieces = model.GetProperty("vocab").EnumerateObject().OrderBy(p => p.Value.GetInt32()).Select(p => p.Name).ToList();
        var score = new Dictionary<string, float>(StringComparer.Ordinal);
        int rank = 0;
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            string[] pair = merge.ValueKind == JsonValueKind.String ? merge.GetString()!.Split(' ') : [merge[0].GetString()!, merge[1].GetString()!];
            score.TryAdd(pair[0] + pair[1], -rank++);
        }
        var proto = new ProtoWriter();
        for (int id = 0; id < pieces.Count; id++)
        {
            string piece = pieces[id];
            int type = id == 0 ? 2 : id <= 2 ? 3 : piece.Length == 6 && piece.StartsWith("<0x") ? 6 : 1;
            float value = type == 1 ? score.GetValueOrDefault(piece, -rank - id) : 0;
            proto.Message(1, new ProtoWriter().String(1, piece).Float(2, value).Int(3, type));
        }
        proto.Message(2, new ProtoWriter().Int(3, 2).Int(4, pieces.Count).Int(35, 1).Int(40, 0).Int(41, 1).Int(42, 2).Int(43, -1));
        proto.Message(3, new ProtoWriter().String(1, "identity").Int(3, 1).Int(4, 0).Int(5, 1));
        return proto.ToArray();
    }
}
