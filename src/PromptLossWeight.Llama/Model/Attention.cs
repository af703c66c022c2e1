using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Multi-head self-attention with grouped-query attention (several query heads share one key/value head),
/// rotary position embeddings and scaled dot-product attention: causal within each document when the documents are
/// known contiguous spans (<see cref="DocumentSpans"/>), otherwise under an explicit boolean mask (KV cache, generation).
/// </summary>
public sealed class Attention : nn.Module, IProjectionOwner
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private nn.Module<Tensor, Tensor> q_proj; // D → heads·H
    private nn.Module<Tensor, Tensor> k_proj; // D → kvHeads·H
    private nn.Module<Tensor, Tensor> v_proj; // D → kvHeads·H
    private nn.Module<Tensor, Tensor> o_proj; // heads·H → D
#pragma warning restore IDE1006
    private readonly int _heads, _kvHeads, _headDim, _layer;

    /// <summary>Creates the projections of layer <paramref name="layer"/> for <paramref name="config"/>.</summary>
    public Attention(LlamaConfig config, int layer, ScalarType dtype, Device device) : base(nameof(Attention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        _layer = layer;
        long d = config.HiddenSize;
        q_proj = new Projection(d, _heads * _headDim, dtype, device);
        k_proj = new Projection(d, _kvHeads * _headDim, dtype, device);
        v_proj = new Projection(d, _kvHeads * _headDim, dtype, device);
        o_proj = new Projection(_heads * _headDim, d, dtype, device);
        RegisterComponents();
    }

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
        // RoPE in the projections' own layout [B, N, heads, H]: its outputs are contiguous in the token-major order that the
        // per-document path splits along, so no transposed copy is made before attention.
        Tensor q = RotaryEmbedding.Apply(q_proj.call(x).view(b, n, _heads, _headDim), cos, sin);   // [B, N, heads, H]
        Tensor k = RotaryEmbedding.Apply(k_proj.call(x).view(b, n, _kvHeads, _headDim), cos, sin); // [B, N, kvHeads, H]
        Tensor v = v_proj.call(x).view(b, n, _kvHeads, _headDim);                                   // [B, N, kvHeads, H]
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
            y = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), kt, vt, attn_mask: mask).transpose(1, 2);
        }
        y = y.reshape(b, n, _heads * _headDim);                                                       // [B, N, heads·H]
        return o_proj.call(y).MoveToOuterDisposeScope();                                             // [B, N, D]
    }
}
