using PromptLossWeight.Models;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// A Llama-family causal language model (Llama, Mistral, Qwen2/2.5, Qwen3, Gemma 2, Gemma 3 text; see
/// <see cref="ModelFamily"/>): <see cref="LlamaModel"/> plus the LM head (its own matrix, or the embedding matrix itself
/// when <see cref="LlamaConfig.TieWordEmbeddings"/> is set), and Gemma 2's final logit soft-capping. Parameter names follow
/// Hugging Face (<c>model.layers.0.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>, …).
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>, IHiddenStateLanguageModel
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private readonly LlamaModel model;
    private readonly Projection? lm_head; // D → V; null when tied to the embedding
#pragma warning restore IDE1006

    /// <summary>
    /// Creates a model with freshly initialised weights (N(0, 0.02²), norms 1, seed 0), or with uninitialised memory
    /// when <paramref name="initialize"/> is false (for loading a checkpoint, as <c>LlamaCheckpoint.Load</c> does).
    /// </summary>
    /// <param name="config">The architecture.</param>
    /// <param name="device">Where the weights live; null picks CUDA when available, else the CPU.</param>
    /// <param name="dtype">Float32, BFloat16 or Float16; null uses the config's <c>torch_dtype</c>.</param>
    /// <param name="initialize">False leaves the weights uninitialised, to be overwritten by a checkpoint.</param>
    public LlamaForCausalLM(LlamaConfig config, Device? device = null, ScalarType? dtype = null, bool initialize = true) : base(nameof(LlamaForCausalLM))
    {
        Config = config.Validate();
        Device target = device ?? TorchRuntime.DefaultDevice();
        if (target.type != DeviceType.CPU) TorchRuntime.EnsureLoaded(target.type);
        ScalarType type = dtype ?? config.ScalarType;
        LlamaConfig.DtypeName(type); // rejects non-float dtypes
        model = new LlamaModel(config, type, target);
        register_module(nameof(model), model);
        if (!config.TieWordEmbeddings)
        {
            lm_head = new Projection(config.HiddenSize, config.VocabSize, type, target);
            register_module(nameof(lm_head), lm_head);
        }
        if (initialize) InitializeWeights(seed: 0);
    }

    /// <summary>The architecture.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The device the weights are on (follows <c>to(device)</c>).</summary>
    public Device Device => model.EmbedTokens.Weight.device;

    /// <summary>The dtype of the base weights.</summary>
    public ScalarType DType => model.EmbedTokens.Weight.dtype;

    /// <summary>The decoder stack.</summary>
    public LlamaModel Model => model;

    /// <summary>
    /// Activation (gradient) checkpointing of the decoder layers (see <see cref="LlamaModel.GradientCheckpointing"/>):
    /// trades about a third more compute per training step for the memory of every layer's activations, so that long
    /// sequences (e.g. 4,096 tokens on a 7B model with LoRA) fit on one GPU.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => model.GradientCheckpointing;
        set => model.GradientCheckpointing = value;
    }

    /// <inheritdoc />
    public nn.Module Module => this;

    /// <inheritdoc />
    public Tensor OutputWeight => lm_head?.Weight ?? model.EmbedTokens.Weight;

    /// <inheritdoc />
    public double? LogitSoftcap => Config.FinalLogitSoftcapping;

    /// <summary>
    /// Fills every weight with N(0, <paramref name="std"/>²), the norms with their identity (1, or 0 for Gemma's (1 + w)
    /// norms) and the biases with 0, reproducibly from <paramref name="seed"/>.
    /// </summary>
    public LlamaForCausalLM InitializeWeights(long seed, double std = 0.02)
    {
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
                p.fill_(Config.NormUnitOffset ? 0.0 : 1.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.zero_();
            else
            {
                using Tensor values = normal(0, std, p.shape, dtype: ScalarType.Float32, generator: generator);
                p.copy_(values);
            }
        }
        return this;
    }

    /// <summary>Token ids [B, N] → logits [B, N, V] (no mask, positions 0..N−1).</summary>
    public override Tensor forward(Tensor inputIds) => Logits(inputIds);

    /// <inheritdoc />
    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        Device device = Device;
        return model.Forward(inputIds.to(device), attentionMask?.to(device), positionIds?.to(device)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null) =>
        Logits(inputIds, attentionMask, positionIds, cache: null);

    /// <summary>
    /// Logits [B, N, V] for new tokens [B, N] after the <see cref="KvCache.Length"/> tokens held in
    /// <paramref name="cache"/> (which this call extends); see <see cref="LlamaModel.Forward"/> for the arguments.
    /// </summary>
    public Tensor Logits(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        Device device = Device;
        Tensor hidden = model.Forward(inputIds.to(device), attentionMask?.to(device), positionIds?.to(device), cache); // [B, N, D]
        Tensor logits = nn.functional.linear(hidden, OutputWeight);                                 // [B, N, V]
        if (LogitSoftcap is double cap) logits = (logits / cap).tanh() * cap;                      // Gemma 2
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>A new, empty key/value cache for this model.</summary>
    public KvCache NewCache() => new(Config.NumHiddenLayers);
}
