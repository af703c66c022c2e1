using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Multi-head self-attention with grouped-query attention (several query heads share one key/value head),
/// rotary position embeddings and scaled dot-product attention: causal within each document when the documents are
/// known contiguous spans (<see cref="DocumentSpans"/>), otherwise under an explicit boolean mask (KV cache, generation,
/// a sliding window). The family options: q/k/v biases (Qwen2), an RMSNorm on each head's q and k before RoPE
/// (Qwen3, Gemma 3), the score scale <c>query_pre_attn_scalar^-1/2</c> and tanh soft-capping of the scores (Gemma 2),
/// the last of which runs the scores explicitly instead of through the fused kernel.
/// </summary>
public sealed class Attention : nn.Module, IProjectionOwner
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private nn.Module<Tensor, Tensor> q_proj; // D → heads·H
    private nn.Module<Tensor, Tensor> k_proj; // D → kvHeads·H
    private nn.Module<Tensor, Tensor> v_proj; // D → kvHeads·H
    private nn.Module<Tensor, Tensor> o_proj; // heads·H → D
    private readonly RmsNorm? q_norm;         // [H], on each query head; Qwen3, Gemma 3
    private readonly RmsNorm? k_norm;         // [H], on each key head
#pragma warning restore IDE1006
    private readonly int _heads, _kvHeads, _headDim, _layer;
    private readonly double _scale;           // of the scores: head_dim^-1/2, or query_pre_attn_scalar^-1/2
    private readonly double? _softcap;        // scores → c·tanh(scores / c) when set

    /// <summary>Creates the projections of layer <paramref name="layer"/> for <paramref name="config"/>.</summary>
    public Attention(LlamaConfig config, int layer, ScalarType dtype, Device device) : base(nameof(Attention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        _layer = layer;
        _scale = config.AttentionScale;
        _softcap = config.AttnLogitSoftcapping;
        long d = config.HiddenSize;
        q_proj = new Projection(d, _heads * _headDim, dtype, device, hasBias: config.QkvBias);
        k_proj = new Projection(d, _kvHeads * _headDim, dtype, device, hasBias: config.QkvBias);
        v_proj = new Projection(d, _kvHeads * _headDim, dtype, device, hasBias: config.QkvBias);
        o_proj = new Projection(_heads * _headDim, d, dtype, device);
        if (config.QkNorm)
        {
            q_norm = new RmsNorm(_headDim, config.RmsNormEps, dtype, device, config.NormUnitOffset);
            k_norm = new RmsNorm(_headDim, config.RmsNormEps, dtype, device, config.NormUnitOffset);
        }
        RegisterComponents();
    }

    /// <summary>True when the scores are soft-capped: the layer then needs an explicit mask, never document spans.</summary>
    public bool SoftCapsScores => _softcap is not null;

    /// <inheritdoc />
    public IReadOnlyDictionary<string, nn.Module<Tensor, Tensor>> Projections => new Dictionary<string, nn.Module<Tensor, Tensor>>
    {
        ["q_proj"] = q_proj, ["k_proj"] = k_proj, ["v_proj"] = v_proj, ["o_proj"] = o_proj,
    };

    /// <inheritdoc />
    public void SetProjection(string name, nn.Module<Tensor, Tensor> projection)
    {
        switch (name)
        {
            case "q_proj": q_proj = projection; break;
            case "k_proj": k_proj = projection; break;
            case "v_proj": v_proj = projection; break;
            case "o_proj": o_proj = projection; break;
            default: throw new ArgumentException($"Attention has no projection \"{name}\" (it has q_proj, k_proj, v_proj, o_proj).", nameof(name));
        }
        register_module(name, null!);
        register_module(name, projection);
    }

    /// <summary>
    /// x [B, N, D] → [B, N, D]. <paramref name="cos"/>/<paramref name="sin"/> [B, N, 1, H] rotate the new positions;
    /// <paramref name="spans"/>, when given, are the documents of the rows (no cache): attention runs causally within each;
    /// otherwise <paramref name="mask"/> [B, 1, N, T+N] bool says which cached-plus-new keys each query may see;
    /// <paramref name="cache"/>, when given, receives this call's keys/values and supplies the earlier ones.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, DocumentSpans? spans, Tensor? mask, KvCache? cache)
    {
        if ((spans is null || cache is not null) && mask is null)
            throw new ArgumentException("Attention needs either document spans (without a cache) or an explicit mask.", nameof(mask));
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        int groups = _heads / _kvHeads;
        if (spans is not null && cache is null && _softcap is not null)
            throw new ArgumentException("Soft-capped attention needs an explicit mask, not document spans.", nameof(spans));
        // RoPE in the projections' own layout [B, N, heads, H]: its outputs are contiguous in the token-major order that the
        // per-document path splits along, so no transposed copy is made before attention.
        Tensor q = q_proj.call(x).view(b, n, _heads, _headDim);                                     // [B, N, heads, H]
        Tensor k = k_proj.call(x).view(b, n, _kvHeads, _headDim);                                   // [B, N, kvHeads, H]
        Tensor v = v_proj.call(x).view(b, n, _kvHeads, _headDim);                                   // [B, N, kvHeads, H]
        if (q_norm is not null && k_norm is not null)
        {
            q = q_norm.call(q);                                                                     // each head's q normalised
            k = k_norm.call(k);
        }
        q = RotaryEmbedding.Apply(q, cos, sin);                                                     // [B, N, heads, H]
        k = RotaryEmbedding.Apply(k, cos, sin);                                                     // [B, N, kvHeads, H]
        // The fused kernel scales by H^-1/2; another scale (Gemma's query_pre_attn_scalar) goes into q beforehand.
        double kernelCorrection = _scale * Math.Sqrt(_headDim);
        if (_softcap is null && Math.Abs(kernelCorrection - 1.0) > 1e-12) q = q * kernelCorrection;
        Tensor y;                                                                                     // [B, N, heads, H]
        if (spans is not null && cache is null)
        {
            if (groups > 1)
            {
                k = k.repeat_interleave(groups, dim: 2);                                  // [B, N, heads, H]: head h reads kv head h / groups
                v = v.repeat_interleave(groups, dim: 2);
            }
            y = spans.Attend(q, k, v);                                                    // causal within each document
        }
        else
        {
            Tensor kt = k.transpose(1, 2), vt = v.transpose(1, 2);                       // [B, kvHeads, N, H]
            if (cache is not null) (kt, vt) = cache.Append(_layer, kt, vt);              // [B, kvHeads, T+N, H]
            if (groups > 1)
            {
                kt = kt.repeat_interleave(groups, dim: 1);                                // [B, heads, T+N, H]
                vt = vt.repeat_interleave(groups, dim: 1);
            }
            y = _softcap is double cap
                ? SoftCappedAttention(q.transpose(1, 2), kt, vt, mask!, _scale, cap).transpose(1, 2)
                : nn.functional.scaled_dot_product_attention(q.transpose(1, 2), kt, vt, attn_mask: mask).transpose(1, 2);
        }
        y = y.reshape(b, n, _heads * _headDim);                                                       // [B, N, heads·H]
        return o_proj.call(y).MoveToOuterDisposeScope();                                             // [B, N, D]
    }

    /// <summary>
    /// Attention with soft-capped scores, written out: q [B, heads, N, H], k, v [B, heads, T+N, H], mask [B, 1, N, T+N]
    /// bool → [B, heads, N, H]. Scores <c>s = q·kᵀ · scale</c> become <c>c · tanh(s / c)</c> before the mask; the
    /// softmax runs in fp32.
    /// </summary>
    private static Tensor SoftCappedAttention(Tensor q, Tensor k, Tensor v, Tensor mask, double scale, double cap)
    {
        using var scope = NewDisposeScope();
        Tensor scores = q.matmul(k.transpose(2, 3)) * scale;                                     // [B, heads, N, T+N]
        scores = (scores / cap).tanh() * cap;
        scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
        Tensor probabilities = scores.softmax(-1, ScalarType.Float32).to(q.dtype);             // [B, heads, N, T+N]
        return probabilities.matmul(v).MoveToOuterDisposeScope();                                // [B, heads, N, H]
    }
}
