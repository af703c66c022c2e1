using System.Text;
using System.Text.Json;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tokenizers;

namespace Race.Tests.Support;

/// <summary>
/// A tiny checkpoint laid out as a Llama-3 Hugging Face folder: config.json and safetensors, a byte-level
/// tokenizer.json (256 byte tokens, no merges, then Llama-3's 256 special tokens), original/tokenizer.model beside
/// it, and a Llama-3-shaped chat_template in tokenizer_config.json.
/// </summary>
internal static class Llama3Folder
{
    public const string ChatTemplate =
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}" +
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

    public static string Write(string folder)
    {
        Directory.CreateDirectory(Path.Combine(folder, "original"));
        var special = Llama3Tokens.SpecialTokens(256);
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = 256 + Llama3Tokens.SpecialTokenCount, MaxPositionEmbeddings = 2048, TieWordEmbeddings = true,
            BosTokenId = special[Llama3Tokens.BeginOfText], EosTokenIds = [special[Llama3Tokens.EndOfTurn]],
        };
        using (var model = new LlamaForCausalLM(config).InitializeWeights(5))
            LlamaCheckpoint.Save(model, folder);
        var document = new Dictionary<string, object>
        {
            ["version"] = "1.0",
            ["added_tokens"] = special.Select(kv => new Dictionary<string, object> { ["id"] = kv.Value, ["content"] = kv.Key, ["special"] = true }).ToArray(),
            ["pre_tokenizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new object[]
                {
                    new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = Llama3Tokens.Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false },
                },
            },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object> { ["type"] = "BPE", ["vocab"] = Enumerable.Range(0, 256).ToDictionary(b => ByteChar((byte)b).ToString(), b => b), ["merges"] = Array.Empty<string>() },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), JsonSerializer.Serialize(document));
        // The tiktoken file Meta ships under original/: one base64 token and its rank per line.
        File.WriteAllLines(Path.Combine(folder, "original", "tokenizer.model"),
            Enumerable.Range(0, 256).Select(b => Convert.ToBase64String([(byte)b]) + " " + b));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["bos_token"] = Llama3Tokens.BeginOfText, ["eos_token"] = Llama3Tokens.EndOfTurn, ["chat_template"] = ChatTemplate,
        }));
        return folder;
    }

    /// <summary>GPT-2's printable stand-in character for each byte (byte-level BPE's alphabet).</summary>
    private static char ByteChar(byte b)
    {
        int shifted = 0;
        for (int i = 0; i < 256; i++)
        {
            bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
            if (i == b) return printable ? (char)i : (char)(256 + shifted);
            if (!printable) shifted++;
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }
}
