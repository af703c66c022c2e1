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
/// The model families the decoder reads, by Hugging Face <c>model_type</c>. They share one Llama-shaped block; the
/// family switches on the options that differ (see the derived properties of <see cref="LlamaConfig"/>).
/// </summary>
public enum ModelFamily
{
    /// <summary><c>llama</c> (Llama 2 / 3 / 3.1 / 3.2, and models converted to its layout).</summary>
    Llama,

    /// <summary><c>mistral</c>: Llama plus an optional sliding attention window on every layer.</summary>
    Mistral,

    /// <summary><c>qwen2</c> (Qwen2 / Qwen2.5): biases on the q, k and v projections.</summary>
    Qwen2,

    /// <summary><c>qwen3</c>: RMSNorm on each head's q and k before RoPE.</summary>
    Qwen3,

    /// <summary><c>gemma2</c>: scaled embeddings, (1 + w) norms around attention and MLP, GeGLU, soft-capping, alternating sliding layers.</summary>
    Gemma2,

    /// <summary><c>gemma3_text</c>: Gemma 2's block with per-head q/k norms, no soft-capping, and a local RoPE base on sliding layers.</summary>
    Gemma3Text,
}

/// <summary>The MLP's gate activation (<c>hidden_act</c> / <c>hidden_activation</c>).</summary>
public enum HiddenActivation
{
    /// <summary><c>silu</c>: SwiGLU.</summary>
    Silu,

    /// <summary><c>gelu_pytorch_tanh</c>: GeGLU with the tanh approximation of GELU.</summary>
    GeluTanh,
}

/// <summary>
/// The architecture of a Llama-family model (Llama, Mistral, Qwen2/2.5, Qwen3, Gemma 2, Gemma 3 text), as Hugging Face
/// writes it in <c>config.json</c>: the family comes from <c>model_type</c> (or <c>architectures</c>). Read one with
/// <see cref="Load"/>, write it back with <see cref="Save"/>.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>The <c>model_type</c> of each supported family, in the order error messages list them.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text"];

    /// <summary>The layer type of a sliding-window attention layer in <c>layer_types</c>.</summary>
    public const string SlidingAttention = "sliding_attention";

    /// <summary>The layer type of a global (full causal) attention layer in <c>layer_types</c>.</summary>
    public const string FullAttention = "full_attention";

    /// <summary>The model family (<c>model_type</c>).</summary>
    public ModelFamily Family { get; init; } = ModelFamily.Llama;

    /// <summary>The MLP's gate activation (SiLU, or tanh-GELU for Gemma).</summary>
    public HiddenActivation Activation { get; init; } = HiddenActivation.Silu;

    /// <summary>
    /// Width of the attention window (<c>sliding_window</c>) on the layers <see cref="IsSlidingLayer"/> names: query i
    /// sees key j when i − W &lt; j ≤ i. Null when no layer slides.
    /// </summary>
    public int? SlidingWindow { get; init; }

    /// <summary>
    /// Per layer, <see cref="SlidingAttention"/> or <see cref="FullAttention"/> (<c>layer_types</c>); empty means every
    /// layer is global.
    /// </summary>
    public IReadOnlyList<string> LayerTypes { get; init; } = [];

    /// <summary>Gemma: attention scores are scaled by <c>query_pre_attn_scalar^-1/2</c> instead of <c>head_dim^-1/2</c>.</summary>
    public double? QueryPreAttnScalar { get; init; }

    /// <summary>Gemma 2: attention scores become <c>c · tanh(score / c)</c> before the mask (<c>attn_logit_softcapping</c>).</summary>
    public double? AttnLogitSoftcapping { get; init; }

    /// <summary>Gemma 2: logits become <c>c · tanh(logit / c)</c> (<c>final_logit_softcapping</c>), in the chunked loss too.</summary>
    public double? FinalLogitSoftcapping { get; init; }

    /// <summary>Gemma 3: the RoPE base of sliding layers (<c>rope_local_base_freq</c>), without rope scaling; null: all layers use <see cref="RopeTheta"/>.</summary>
    public double? RopeLocalTheta { get; init; }

    /// <summary>Linear RoPE scaling (<c>rope_scaling.rope_type = "linear"</c>): inverse frequencies divided by this factor; null for none.</summary>
    public double? LinearRopeScalingFactor { get; init; }

    /// <summary>Qwen2: the q, k and v projections have biases (o_proj has none).</summary>
    public bool QkvBias => Family == ModelFamily.Qwen2;

    /// <summary>Qwen3, Gemma 3: each head's q and k are RMS-normalised (<c>q_norm</c>, <c>k_norm</c>) before RoPE.</summary>
    public bool QkNorm => Family is ModelFamily.Qwen3 or ModelFamily.Gemma3Text;

    /// <summary>Gemma: norms scale by (1 + w), in fp32; their identity weight is 0.</summary>
    public bool NormUnitOffset => IsGemma;

    /// <summary>Gemma: the embeddings are multiplied by √hidden_size (in the weights' dtype).</summary>
    public bool ScaleEmbeddings => IsGemma;

    /// <summary>
    /// Gemma: "sandwich" norms: the attention and MLP outputs are normalised before the residual add
    /// (<c>post_attention_layernorm</c>, <c>post_feedforward_layernorm</c>), the MLP input by <c>pre_feedforward_layernorm</c>.
    /// </summary>
    public bool SandwichNorms => IsGemma;

    /// <summary>Whether layer <paramref name="layer"/> attends within the sliding window.</summary>
    public bool IsSlidingLayer(int layer) => SlidingWindow is not null && layer < LayerTypes.Count && LayerTypes[layer] == SlidingAttention;

    /// <summary>The factor attention scores are scaled by: <c>query_pre_attn_scalar^-1/2</c> or <c>head_dim^-1/2</c>.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    /// <summary>The <c>model_type</c> of <see cref="Family"/>.</summary>
    public string ModelType => SupportedModelTypes[(int)Family];

    private bool IsGemma => Family is ModelFamily.Gemma2 or ModelFamily.Gemma3Text;

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
        if (!Enum.IsDefined(Family)) throw Error(source, "model_type", $"unknown family {Family}");
        if (LayerTypes.Count != 0 && LayerTypes.Count != NumHiddenLayers)
            throw Error(source, "layer_types", $"has {LayerTypes.Count} entries but num_hidden_layers = {NumHiddenLayers}");
        for (int i = 0; i < LayerTypes.Count; i++)
            if (LayerTypes[i] is not (SlidingAttention or FullAttention))
                throw Error(source, $"layer_types[{i}]", $"must be \"{SlidingAttention}\" or \"{FullAttention}\", got \"{LayerTypes[i]}\"");
        if (LayerTypes.Contains(SlidingAttention) && SlidingWindow is null)
            throw Error(source, "sliding_window", "is required by the sliding_attention layers but missing");
        if (SlidingWindow is int window && window <= 0)
            throw Error(source, "sliding_window", $"must be a positive integer, got {window}");
        PositiveOrNull(QueryPreAttnScalar, "query_pre_attn_scalar");
        PositiveOrNull(AttnLogitSoftcapping, "attn_logit_softcapping");
        PositiveOrNull(FinalLogitSoftcapping, "final_logit_softcapping");
        PositiveOrNull(RopeLocalTheta, "rope_local_base_freq");
        if (LinearRopeScalingFactor is double linear && !(linear >= 1 && double.IsFinite(linear)))
            throw Error(source, "rope_scaling.factor", $"must be >= 1, got {linear}");
        if (LinearRopeScalingFactor is not null && RopeScaling is not null)
            throw Error(source, "rope_scaling", "cannot be both linear and llama3");
        foreach (long id in EosTokenIds.Concat(BosTokenId is long b ? [b] : []))
            if (id < 0 || id >= VocabSize)
                throw Error(source, "bos_token_id/eos_token_id", $"token id {id} is outside the vocabulary [0, {VocabSize})");
        ParseDtype(TorchDtype, source, "torch_dtype");
        return this;

        void Positive(int value, string field)
        {
            if (value <= 0) throw Error(source, field, $"must be a positive integer, got {value}");
        }

        void PositiveOrNull(double? value, string field)
        {
            if (value is double v && !(v > 0 && double.IsFinite(v))) throw Error(source, field, $"must be a positive number, got {v}");
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

        ModelFamily family = ParseFamily(root, source);
        bool gemma = family is ModelFamily.Gemma2 or ModelFamily.Gemma3Text;
        // Gemma names the activation hidden_activation (hidden_act is its legacy alias); the others hidden_act.
        string activationField = gemma && root["hidden_activation"] is not null ? "hidden_activation" : "hidden_act";
        string activationName = OptionalString(root, activationField, source) ?? (gemma ? "gelu_pytorch_tanh" : "silu");
        HiddenActivation activation = activationName switch
        {
            "silu" => HiddenActivation.Silu,
            "gelu_pytorch_tanh" => HiddenActivation.GeluTanh,
            _ => throw Error(source, activationField, $"only \"silu\" (SwiGLU) and \"gelu_pytorch_tanh\" (GeGLU) are supported, got \"{activationName}\""),
        };
        // Qwen2's q/k/v biases are part of the architecture (its config has no switch); an attention_bias elsewhere would
        // also put a bias on o_proj, which these blocks do not have.
        if (family != ModelFamily.Qwen2 && OptionalBool(root, "attention_bias", source) == true)
            throw Error(source, "attention_bias", "attention projections with bias are not supported");
        if (OptionalBool(root, "mlp_bias", source) == true)
            throw Error(source, "mlp_bias", "MLP projections with bias are not supported");

        // transformers' Gemma 3 attention does not apply this field; a value would make the two disagree silently.
        if (family == ModelFamily.Gemma3Text && OptionalDouble(root, "attn_logit_softcapping", source) is double unused)
            throw Error(source, "attn_logit_softcapping", $"must be null for gemma3_text (transformers' Gemma 3 attention does not apply it), got {unused}");
        int heads = RequiredInt(root, "num_attention_heads", source);
        int layers = RequiredInt(root, "num_hidden_layers", source);
        int? slidingWindow = family is ModelFamily.Qwen2 or ModelFamily.Qwen3 && OptionalBool(root, "use_sliding_window", source) != true
            ? null                                                              // Qwen's window is off unless use_sliding_window
            : (int?)OptionalLong(root, "sliding_window", source);
        var (ropeScaling, linearFactor) = ParseRopeScaling(root, source);
        var config = new LlamaConfig
        {
            Family = family,
            Activation = activation,
            HiddenSize = RequiredInt(root, "hidden_size", source),
            IntermediateSize = RequiredInt(root, "intermediate_size", source),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = (int?)OptionalLong(root, "num_key_value_heads", source) ?? heads,
            HeadDimOverride = (int?)OptionalLong(root, "head_dim", source),
            RmsNormEps = OptionalDouble(root, "rms_norm_eps", source) ?? 1e-6,
            RopeTheta = OptionalDouble(root, "rope_theta", source) ?? (family == ModelFamily.Gemma3Text ? 1_000_000.0 : 10000.0),
            RopeScaling = ropeScaling,
            LinearRopeScalingFactor = linearFactor,
            VocabSize = RequiredInt(root, "vocab_size", source),
            MaxPositionEmbeddings = (int?)OptionalLong(root, "max_position_embeddings", source) ?? 2048,
            TieWordEmbeddings = OptionalBool(root, "tie_word_embeddings", source) ?? gemma, // Gemma's configs tie by default
            BosTokenId = OptionalLong(root, "bos_token_id", source),
            EosTokenIds = ParseEos(root, source),
            TorchDtype = OptionalString(root, "torch_dtype", source) ?? OptionalString(root, "dtype", source) ?? "float32",
            SlidingWindow = slidingWindow,
            LayerTypes = ParseLayerTypes(root, source, family, layers, slidingWindow),
            // transformers' defaults where a Gemma config leaves a field out
            QueryPreAttnScalar = gemma ? OptionalDouble(root, "query_pre_attn_scalar", source) ?? 256 : null,
            AttnLogitSoftcapping = family == ModelFamily.Gemma2 ? OptionalOrDefault(root, "attn_logit_softcapping", source, 50.0) : null,
            FinalLogitSoftcapping = family switch
            {
                ModelFamily.Gemma2 => OptionalOrDefault(root, "final_logit_softcapping", source, 30.0),
                ModelFamily.Gemma3Text => OptionalDouble(root, "final_logit_softcapping", source),
                _ => null,
            },
            RopeLocalTheta = family == ModelFamily.Gemma3Text ? OptionalDouble(root, "rope_local_base_freq", source) ?? 10000.0 : null,
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
        bool gemma = IsGemma;
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray(ArchitectureName),
            ["model_type"] = ModelType,
            [gemma ? "hidden_activation" : "hidden_act"] = Activation == HiddenActivation.Silu ? "silu" : "gelu_pytorch_tanh",
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
                : LinearRopeScalingFactor is double linear ? new JsonObject { ["rope_type"] = "linear", ["factor"] = linear } : null,
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
        if (Family == ModelFamily.Qwen2) root.Remove("attention_bias");          // Qwen2's biases are not switchable
        if (Family is ModelFamily.Qwen2 or ModelFamily.Qwen3) root["use_sliding_window"] = LayerTypes.Contains(SlidingAttention);
        if (SlidingWindow is int window) root["sliding_window"] = window;
        if (LayerTypes.Count > 0) root["layer_types"] = new JsonArray(LayerTypes.Select(t => (JsonNode?)t).ToArray());
        if (gemma)
        {
            root["query_pre_attn_scalar"] = QueryPreAttnScalar;
            root["attn_logit_softcapping"] = AttnLogitSoftcapping;
            root["final_logit_softcapping"] = FinalLogitSoftcapping;
        }
        if (RopeLocalTheta is double local) root["rope_local_base_freq"] = local;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The Hugging Face class of <see cref="Family"/> (<c>architectures[0]</c>).</summary>
    public string ArchitectureName => Family switch
    {
        ModelFamily.Mistral => "MistralForCausalLM",
        ModelFamily.Qwen2 => "Qwen2ForCausalLM",
        ModelFamily.Qwen3 => "Qwen3ForCausalLM",
        ModelFamily.Gemma2 => "Gemma2ForCausalLM",
        ModelFamily.Gemma3Text => "Gemma3ForCausalLM",
        _ => "LlamaForCausalLM",
    };

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

    private static (Llama3RopeScaling? Llama3, double? Linear) ParseRopeScaling(JsonObject root, string source)
    {
        if (!root.TryGetPropertyValue("rope_scaling", out JsonNode? node) || node is null) return (null, null);
        if (node is not JsonObject scaling)
            throw Error(source, "rope_scaling", "must be an object or null");
        string? type = OptionalString(scaling, "rope_type", source, "rope_scaling.") ?? OptionalString(scaling, "type", source, "rope_scaling.");
        if (type == "default") return (null, null);
        if (type == "linear") return (null, RequiredDouble(scaling, "factor", source, "rope_scaling."));
        if (type != "llama3")
            throw Error(source, "rope_scaling.rope_type", $"only \"llama3\" and \"linear\" rotary scaling are supported, got \"{type ?? "(missing)"}\"");
        return (new Llama3RopeScaling(
            RequiredDouble(scaling, "factor", source, "rope_scaling."),
            RequiredDouble(scaling, "low_freq_factor", source, "rope_scaling."),
            RequiredDouble(scaling, "high_freq_factor", source, "rope_scaling."),
            (int)RequiredDouble(scaling, "original_max_position_embeddings", source, "rope_scaling.")), null);
    }

    /// <summary>
    /// The family from <c>model_type</c>, else from the first of <c>architectures</c>; a config with neither is Llama.
    /// </summary>
    private static ModelFamily ParseFamily(JsonObject root, string source)
    {
        string supported = string.Join(", ", SupportedModelTypes);
        string? modelType = OptionalString(root, "model_type", source);
        if (modelType is not null)
        {
            int index = SupportedModelTypes.ToList().IndexOf(modelType);
            if (index < 0) throw Error(source, "model_type", $"\"{modelType}\" is not supported (supported: {supported})");
            return (ModelFamily)index;
        }
        if (!root.TryGetPropertyValue("architectures", out JsonNode? node) || node is null) return ModelFamily.Llama;
        string? architecture = node is JsonArray { Count: > 0 } array && array[0] is JsonValue v && v.TryGetValue(out string? name) ? name
            : throw Error(source, "architectures", $"must be a list of class names, got {node.ToJsonString()}");
        return architecture switch
        {
            "LlamaForCausalLM" => ModelFamily.Llama,
            "MistralForCausalLM" => ModelFamily.Mistral,
            "Qwen2ForCausalLM" => ModelFamily.Qwen2,
            "Qwen3ForCausalLM" => ModelFamily.Qwen3,
            "Gemma2ForCausalLM" => ModelFamily.Gemma2,
            "Gemma3ForCausalLM" => ModelFamily.Gemma3Text,
            _ => throw Error(source, "architectures", $"\"{architecture}\" is not supported (supported model types: {supported})"),
        };
    }

    /// <summary>
    /// <c>layer_types</c> when the config lists them; otherwise each family's rule in transformers: Mistral slides every
    /// layer when it has a window, Qwen from <c>max_window_layers</c> on when <c>use_sliding_window</c>, Gemma 2 every
    /// even layer, Gemma 3 all but every <c>sliding_window_pattern</c>-th.
    /// </summary>
    private static IReadOnlyList<string> ParseLayerTypes(JsonObject root, string source, ModelFamily family, int layers, int? window)
    {
        bool qwen = family is ModelFamily.Qwen2 or ModelFamily.Qwen3;
        if (qwen && OptionalBool(root, "use_sliding_window", source) != true) return []; // transformers drops the window then
        if (root.TryGetPropertyValue("layer_types", out JsonNode? node) && node is not null)
        {
            if (node is not JsonArray array) throw Error(source, "layer_types", "must be a list of strings");
            return array.Select((item, i) => item is JsonValue v && v.TryGetValue(out string? type)
                ? type
                : throw Error(source, $"layer_types[{i}]", "must be a string")).ToArray();
        }
        Func<int, bool>? slides = family switch
        {
            ModelFamily.Mistral when window is not null => _ => true,
            ModelFamily.Qwen2 or ModelFamily.Qwen3 when OptionalBool(root, "use_sliding_window", source) == true =>
                i => i >= (OptionalLong(root, "max_window_layers", source) ?? layers),
            ModelFamily.Gemma2 => i => i % 2 == 0,
            ModelFamily.Gemma3Text => i => (i + 1) % (OptionalLong(root, "sliding_window_pattern", source) ?? 6) != 0,
            _ => null,
        };
        if (slides is null) return [];
        if (window is null && family is ModelFamily.Gemma2 or ModelFamily.Gemma3Text)
            throw Error(source, "sliding_window", "is required (Gemma alternates sliding and global layers) but missing");
        return Enumerable.Range(0, layers).Select(i => slides(i) ? SlidingAttention : FullAttention).ToArray();
    }

    private static double? OptionalOrDefault(JsonObject o, string field, string source, double fallback) =>
        o.ContainsKey(field) ? OptionalDouble(o, field, source) : fallback; // present as null: switched off

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
