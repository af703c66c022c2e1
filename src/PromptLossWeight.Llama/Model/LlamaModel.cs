using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// The Llama decoder stack without the LM head: token embedding (×√D for Gemma) → decoder layers → final RMS norm.
/// Each layer attends globally or, when <see cref="LlamaConfig.IsSlidingLayer"/>, within the sliding window; Gemma 3's
/// sliding layers rotate with their own RoPE base.
/// </summary>
public sealed class LlamaModel : nn.Module
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private readonly TokenEmbedding embed_tokens;     // [V, D]
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;
#pragma warning restore IDE1006
    private readonly RotaryEmbedding _rotary;
    private readonly RotaryEmbedding? _localRotary; // Gemma 3's sliding layers: rope_local_base_freq, no scaling
    private readonly LlamaConfig _config;

    /// <summary>Creates the decoder stack with freshly initialised weights.</summary>
    public LlamaModel(LlamaConfig config, ScalarType dtype, Device device) : base(nameof(LlamaModel))
    {
        embed_tokens = new TokenEmbedding(config.VocabSize, config.HiddenSize, dtype, device);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(i => new DecoderLayer(config, i, dtype, device)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype, device, config.NormUnitOffset);
        _rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta, config.RopeScaling, config.LinearRopeScalingFactor ?? 1.0);
        if (config.RopeLocalTheta is double local) _localRotary = new RotaryEmbedding(config.HeadDim, local);
        _config = config;
        RegisterComponents();
    }

    /// <summary>The token embedding [V, D].</summary>
    public TokenEmbedding EmbedTokens => embed_tokens;

    /// <summary>The decoder layers, in order.</summary>
    public IReadOnlyList<DecoderLayer> Layers => [.. layers];

    /// <summary>The rotary embedding of the global layers (of all layers but Gemma 3's sliding ones).</summary>
    public RotaryEmbedding Rotary => _rotary;

    /// <summary>
    /// Activation (gradient) checkpointing: when true, a forward pass with gradients enabled keeps only each decoder
    /// layer's input and recomputes the layer during backward (about one more forward pass of compute, in exchange for
    /// the activations of every layer). Calls without gradients, and calls with a KV cache, are not affected.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>
    /// Token ids [B, N] → final normalised hidden states [B, N, D].
    /// </summary>
    /// <param name="inputIds">[B, N] int64 token ids (the new tokens only when a cache is given).</param>
    /// <param name="attentionMask">[B, T+N] int64 document ids (0 = padding), covering cached and new tokens; null = all one document.</param>
    /// <param name="positionIds">[B, N] int64 positions of the new tokens; null = T, T+1, …, T+N−1.</param>
    /// <param name="cache">Keys/values of earlier tokens (T of them); this call appends the new ones.</param>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], n = inputIds.shape[1];
        long past = cache?.Length ?? 0;
        Device device = inputIds.device;
        Tensor docIds = attentionMask ?? ones(b, past + n, dtype: ScalarType.Int64, device: device);           // [B, T+N]
        if (docIds.shape[0] != b || docIds.shape[1] != past + n)
            throw new ArgumentException($"attentionMask must be [B, T+N] = [{b}, {past + n}] (cached + new tokens); got [{string.Join(", ", docIds.shape)}].", nameof(attentionMask));
        Tensor positions = positionIds ?? arange(past, past + n, dtype: ScalarType.Int64, device: device).expand(b, n); // [B, N]
        if (positions.shape[0] != b || positions.shape[1] != n)
            throw new ArgumentException($"positionIds must be [B, N] = [{b}, {n}]; got [{string.Join(", ", positions.shape)}].", nameof(positionIds));

        Tensor x = embed_tokens.call(inputIds);                                   // [B, N, D]
        if (_config.ScaleEmbeddings)
        {
            using Tensor normalizer = tensor(Math.Sqrt(_config.HiddenSize), dtype: x.dtype, device: device); // √D in the weights' dtype
            x = x * normalizer;
        }
        var (cos, sin) = _rotary.CosSin(positions, x.dtype);                      // [B, N, 1, H] each
        var (localCos, localSin) = _localRotary is null ? (cos, sin) : _localRotary.CosSin(positions, x.dtype);
        // Without a cache, documents that are contiguous spans attend within themselves (no [N, N] mask, no work across
        // documents); the cache/generation path and any other layout keep the explicit mask. So does a sliding layer once
        // the keys reach past its window (within the window it is plain causal attention), and soft-capped attention.
        DocumentSpans? spans = cache is null ? DocumentSpans.Find(docIds) : null;
        Tensor? fullMask = null, windowMask = null;                               // [B, 1, N, T+N], made when first needed
        bool checkpoint = GradientCheckpointing && cache is null && is_grad_enabled();
        for (int i = 0; i < layers.Count; i++)
        {
            DecoderLayer layer = layers[i];
            bool sliding = _config.IsSlidingLayer(i);
            bool windowed = sliding && past + n > _config.SlidingWindow!.Value;
            DocumentSpans? layerSpans = windowed || layer.SelfAttention.SoftCapsScores ? null : spans;
            Tensor? mask = layerSpans is not null ? null
                : windowed ? windowMask ??= AttentionMask(docIds.to(device), past, n, _config.SlidingWindow)
                : fullMask ??= AttentionMask(docIds.to(device), past, n);
            var (layerCos, layerSin) = sliding ? (localCos, localSin) : (cos, sin);
            x = checkpoint
                ? CheckpointedLayer.Run(layer, x, layerCos, layerSin, layerSpans, mask) // [B, N, D], recomputed in backward
                : layer.Forward(x, layerCos, layerSin, layerSpans, mask, cache);        // [B, N, D]
        }
        return norm.call(x).MoveToOuterDisposeScope();                            // [B, N, D]
    }

    /// <summary>
    /// The boolean attention mask [B, 1, N, T+N] for the last <paramref name="newTokens"/> of document ids
    /// <paramref name="docIds"/> [B, T+N]: query i (absolute position T+i) sees key j when j ≤ T+i, both tokens
    /// belong to the same document and the key is not padding. With a <paramref name="window"/> W the key must also be
    /// among the query's last W positions: j &gt; T+i − W (transformers' sliding window). Every query also sees itself, so
    /// that padding rows stay finite (their outputs are ignored).
    /// </summary>
    public static Tensor AttentionMask(Tensor docIds, long past, long newTokens, int? window = null)
    {
        using var scope = NewDisposeScope();
        long total = docIds.shape[1];
        Device device = docIds.device;
        Tensor queryIndex = arange(past, past + newTokens, device: device).unsqueeze(1); // [N, 1]
        Tensor keyIndex = arange(0, total, device: device).unsqueeze(0);                 // [1, T+N]
        Tensor causal = keyIndex.le(queryIndex);                                         // [N, T+N]
        if (window is int w) causal &= keyIndex.gt(queryIndex - w);                      // within the window
        Tensor self = keyIndex.eq(queryIndex);                                           // [N, T+N]
        Tensor queryDoc = docIds.narrow(1, past, newTokens).unsqueeze(2);                // [B, N, 1]
        Tensor keyDoc = docIds.unsqueeze(1);                                             // [B, 1, T+N]
        Tensor sameDoc = queryDoc.eq(keyDoc) & keyDoc.ne(0);                             // [B, N, T+N]
        Tensor allowed = (sameDoc & causal) | self;                                      // [B, N, T+N]
        return allowed.unsqueeze(1).MoveToOuterDisposeScope();                           // [B, 1, N, T+N]
    }
}
