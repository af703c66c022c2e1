using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Llama 3 / 3.1 rotary scaling (<c>rope_scaling.rope_type = "llama3"</c>): long wavelengths are divided by
/// <see cref="Factor"/>, short ones kept, and the band in between interpolated smoothly.
/// </summary>
/// <param name="Factor">How much the low frequencies are slowed down (8 for Llama 3.1).</param>
/// <param name="LowFreqFactor">Wavelengths longer than original_max_position_embeddings / this are fully scaled.</param>
/// <param name="HighFreqFactor">Wavelengths shorter than original_max_position_embeddings / this are left unchanged.</param>
/// <param name="OriginalMaxPositionEmbeddings">The context length the model was pre-trained with (8192 for Llama 3).</param>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);

/// <summary>
/// The architecture of a Llama-family model, as Hugging Face writes it in <c>config.json</c>.
/// Read one with <see cref="Load"/>, write it back with <see cref="Save"/>.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>Model width D (<c>hidden_size</c>).</summary>
    public int HiddenSize { get; init; }

    /// <summary>Width of the SwiGLU MLP (<c>intermediate_size</c>).</summary>
    public int IntermediateSize { get; init; }

    /// <summary>Number of decoder layers (<c>num_hidden_layers</c>).</summary>
    public int NumHiddenLayers { get; init; }

    /// <summary>Number of query heads (<c>num_attention_heads</c>).</summary>
    public int NumAttentionHeads { get; init; }

    /// <summary>Number of key/value heads (<c>num_key_value_heads</c>); fewer than query heads means grouped-query attention.</summary>
    public int NumKeyValueHeads { get; init; }

    /// <summary>Per-head width (<c>head_dim</c>); null means <see cref="HiddenSize"/> / <see cref="NumAttentionHeads"/>.</summary>
    public int? HeadDimOverride { get; init; }

    /// <summary>Epsilon of the RMS norms (<c>rms_norm_eps</c>).</summary>
    public double RmsNormEps { get; init; } = 1e-6;

    /// <summary>Base of the rotary frequencies (<c>rope_theta</c>).</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>Llama-3 rotary scaling, or null for plain RoPE (<c>rope_scaling</c>).</summary>
    public Llama3RopeScaling? RopeScaling { get; init; }

    /// <summary>Vocabulary size V (<c>vocab_size</c>).</summary>
    public int VocabSize { get; init; }

    /// <summary>Longest context the model supports (<c>max_position_embeddings</c>).</summary>
    public int MaxPositionEmbeddings { get; init; } = 2048;

    /// <summary>Whether the LM head shares the embedding matrix (<c>tie_word_embeddings</c>).</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>Beginning-of-sequence token id (<c>bos_token_id</c>), if any.</summary>
    public long? BosTokenId { get; init; }

    /// <summary>End-of-sequence token ids (<c>eos_token_id</c>, a number or a list); generation stops at any of them.</summary>
    public IReadOnlyList<long> EosTokenIds { get; init; } = [];

    /// <summary>The dtype the weights are stored in (<c>torch_dtype</c>): "float32", "bfloat16" or "float16".</summary>
    public string TorchDtype { get; init; } = "float32";

    /// <summary>The per-head width actually used.</summary>
    public int HeadDim => HeadDimOverride ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0);

    /// <summary><see cref="TorchDtype"/> as a TorchSharp scalar type.</summary>
    public ScalarType ScalarType => ParseDtype(TorchDtype, "config", "torch_dtype");

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public LlamaConfig Validate(string source = "LlamaConfig")
    {
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(VocabSize, "vocab_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (HeadDimOverride is null && HiddenSize % NumAttentionHeads != 0)
            throw Error(source, "hidden_size", $"{HiddenSize} is not divisible by num_attention_heads = {NumAttentionHeads}");
        if (HeadDim <= 0 || HeadDim % 2 != 0)
            throw Error(source, "head_dim", $"the head width must be a positive even number for rotary embeddings, got {HeadDim}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw Error(source, "num_key_value_heads", $"{NumKeyValueHeads} does not divide num_attention_heads = {NumAttentionHeads}");
        if (!(RmsNormEps > 0) || !double.IsFinite(RmsNormEps))
            throw Error(source, "rms_norm_eps", $"must be a positive number, got {RmsNormEps}");
        if (!(RopeTheta > 0) || !double.IsFinite(RopeTheta))
            throw Error(source, "rope_theta", $"must be a positive number, got {RopeTheta}");
        if (RopeScaling is { } s)
        {
            if (!(s.Factor >= 1)) throw Error(source, "rope_scaling.factor", $"must be >= 1, got {s.Factor}");
            if (!(s.LowFreqFactor > 0)) throw Error(source, "rope_scaling.low_freq_factor", $"must be > 0, got {s.LowFreqFactor}");
            if (!(s.HighFreqFactor > s.LowFreqFactor))
                throw Error(source, "rope_scaling.high_freq_factor", $"must be greater than low_freq_factor = {s.LowFreqFactor}, got {s.HighFreqFactor}");
            if (s.OriginalMaxPositionEmbeddings <= 0)
                throw Error(source, "rope_scaling.original_max_position_embeddings", $"must be positive, got {s.OriginalMaxPositionEmbeddings}");
        }
        foreach (long id in EosTokenIds.Concat(BosTokenId is long b ? [b] : []))
            if (id < 0 || id >= VocabSize)
                throw Error(source, "bos_token_id/eos_token_id", $"token id {id} is outside the vocabulary [0, {VocabSize})");
        ParseDtype(TorchDtype, source, "torch_dtype");
        return this;

        void Positive(int value, string field)
        {
            if (value <= 0) throw Error(source, field, $"must be a positive integer, got {value}");
        }
    }

    /// <summary>
    /// Reads a Hugging Face <c>config.json</c> (give the file or the checkpoint folder that holds it).
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no config.json.</exception>
    /// <exception cref="ArgumentException">A field is missing, malformed or unsupported; the message names the file and field.</exception>
    public static LlamaConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"Llama config not found: {file}", file);
        return Parse(File.ReadAllText(file), file);
    }

    /// <summary>Parses the text of a <c>config.json</c>; <paramref name="source"/> names it in error messages.</summary>
    public static LlamaConfig Parse(string json, string source = "config.json")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new ArgumentException($"{source}: the top level must be a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"{source}: not valid JSON ({ex.Message}).", ex);
        }

        string? activation = OptionalString(root, "hidden_act", source);
        if (activation is not null && activation != "silu")
            throw Error(source, "hidden_act", $"only \"silu\" (SwiGLU) is supported, got \"{activation}\"");
        if (OptionalBool(root, "attention_bias", source) == true)
            throw Error(source, "attention_bias", "attention projections with bias are not supported");
        if (OptionalBool(root, "mlp_bias", source) == true)
            throw Error(source, "mlp_bias", "MLP projections with bias are not supported");

        int heads = RequiredInt(root, "num_attention_heads", source);
        var config = new LlamaConfig
        {
            HiddenSize = RequiredInt(root, "hidden_size", source),
            IntermediateSize = RequiredInt(root, "intermediate_size", source),
            NumHiddenLayers = RequiredInt(root, "num_hidden_layers", source),
            NumAttentionHeads = heads,
            NumKeyValueHeads = (int?)OptionalLong(root, "num_key_value_heads", source) ?? heads,
            HeadDimOverride = (int?)OptionalLong(root, "head_dim", source),
            RmsNormEps = OptionalDouble(root, "rms_norm_eps", source) ?? 1e-6,
            RopeTheta = OptionalDouble(root, "rope_theta", source) ?? 10000.0,
            RopeScaling = ParseRopeScaling(root, source),
            VocabSize = RequiredInt(root, "vocab_size", source),
            MaxPositionEmbeddings = (int?)OptionalLong(root, "max_position_embeddings", source) ?? 2048,
            TieWordEmbeddings = OptionalBool(root, "tie_word_embeddings", source) ?? false,
            BosTokenId = OptionalLong(root, "bos_token_id", source),
            EosTokenIds = ParseEos(root, source),
            TorchDtype = OptionalString(root, "torch_dtype", source) ?? OptionalString(root, "dtype", source) ?? "float32",
        };
        return config.Validate(source);
    }

    /// <summary>Writes this config as a Hugging Face <c>config.json</c> (a file path, or a folder to write config.json into).</summary>
    public void Save(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        File.WriteAllText(file, ToJson());
    }

    /// <summary>This config as the JSON text of a Hugging Face <c>config.json</c>.</summary>
    public string ToJson()
    {
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_act"] = "silu",
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling is { } s
                ? new JsonObject
                {
                    ["rope_type"] = "llama3",
                    ["factor"] = s.Factor,
                    ["low_freq_factor"] = s.LowFreqFactor,
                    ["high_freq_factor"] = s.HighFreqFactor,
                    ["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings,
                }
                : null,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["bos_token_id"] = BosTokenId is long b ? b : null,
            ["eos_token_id"] = EosTokenIds.Count switch
            {
                0 => null,
                1 => EosTokenIds[0],
                _ => new JsonArray(EosTokenIds.Select(id => (JsonNode?)id).ToArray()),
            },
            ["torch_dtype"] = TorchDtype,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    internal static ScalarType ParseDtype(string dtype, string source, string field) => dtype switch
    {
        "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw Error(source, field, $"unsupported dtype \"{dtype}\" (supported: float32, bfloat16, float16)"),
    };

    /// <summary>The <c>torch_dtype</c> string for a TorchSharp scalar type.</summary>
    public static string DtypeName(ScalarType type) => type switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => throw new ArgumentException($"Llama weights must be float32, bfloat16 or float16; got {type}.", nameof(type)),
    };

    private static Llama3RopeScaling? ParseRopeScaling(JsonObject root, string source)
    {
        if (!root.TryGetPropertyValue("rope_scaling", out JsonNode? node) || node is null) return null;
        if (node is not JsonObject scaling)
            throw Error(source, "rope_scaling", "must be an object or null");
        string? type = OptionalString(scaling, "rope_type", source, "rope_scaling.") ?? OptionalString(scaling, "type", source, "rope_scaling.");
        if (type == "default") return null;
        if (type != "llama3")
            throw Error(source, "rope_scaling.rope_type", $"only \"llama3\" rotary scaling is supported, got \"{type ?? "(missing)"}\"");
        return new Llama3RopeScaling(
            RequiredDouble(scaling, "factor", source, "rope_scaling."),
            RequiredDouble(scaling, "low_freq_factor", source, "rope_scaling."),
            RequiredDouble(scaling, "high_freq_factor", source, "rope_scaling."),
            (int)RequiredDouble(scaling, "original_max_position_embeddings", source, "rope_scaling."));
    }

    private static IReadOnlyList<long> ParseEos(JsonObject root, string source)
    {
        if (!root.TryGetPropertyValue("eos_token_id", out JsonNode? node) || node is null) return [];
        if (node is JsonArray array)
            return array.Select((item, i) => item is JsonValue v && v.TryGetValue(out long id)
                ? id
                : throw Error(source, $"eos_token_id[{i}]", "must be an integer")).ToArray();
        return [OptionalLong(root, "eos_token_id", source)!.Value];
    }

    private static int RequiredInt(JsonObject o, string field, string source) =>
        (int)(OptionalLong(o, field, source) ?? throw Error(source, field, "is required but missing"));

    private static double RequiredDouble(JsonObject o, string field, string source, string prefix) =>
        OptionalDouble(o, field, source, prefix) ?? throw Error(source, prefix + field, "is required but missing");

    private static long? OptionalLong(JsonObject o, string field, string source)
    {
        if (!o.TryGetPropertyValue(field, out JsonNode? node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out long value)) return value;
        if (node is JsonValue d && d.TryGetValue(out double real) && real == Math.Floor(real) && Math.Abs(real) < int.MaxValue) return (long)real;
        throw Error(source, field, $"must be an integer, got {node.ToJsonString()}");
    }

    private static double? OptionalDouble(JsonObject o, string field, string source, string prefix = "")
    {
        if (!o.TryGetPropertyValue(field, out JsonNode? node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out double value)) return value;
        throw Error(source, prefix + field, $"must be a number, got {node.ToJsonString()}");
    }

    private static bool? OptionalBool(JsonObject o, string field, string source)
    {
        if (!o.TryGetPropertyValue(field, out JsonNode? node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out bool value)) return value;
        throw Error(source, field, $"must be true or false, got {node.ToJsonString()}");
    }

    private static string? OptionalString(JsonObject o, string field, string source, string prefix = "")
    {
        if (!o.TryGetPropertyValue(field, out JsonNode? node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? value)) return value;
        throw Error(source, prefix + field, $"must be a string, got {node.ToJsonString()}");
    }

    private static ArgumentException Error(string source, string field, string problem) =>
        new($"{source}: field \"{field}\" {problem}.");
}
