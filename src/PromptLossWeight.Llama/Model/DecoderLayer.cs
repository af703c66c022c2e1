using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// One pre-norm transformer block: <c>x + attn(norm(x))</c>, then <c>x + mlp(norm(x))</c>. Gemma wraps both blocks in
/// "sandwich" norms: <c>x + norm(attn(norm(x)))</c>, then <c>x + norm(mlp(norm(x)))</c>, where Gemma's
/// <c>post_attention_layernorm</c> normalises the attention output (Llama's normalises the MLP input).
/// </summary>
public sealed class DecoderLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private readonly RmsNorm input_layernorm;
    private readonly Attention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly RmsNorm? pre_feedforward_layernorm;  // Gemma only
    private readonly RmsNorm? post_feedforward_layernorm; // Gemma only
    private readonly Mlp mlp;
#pragma warning restore IDE1006

    /// <summary>Creates layer <paramref name="layer"/> of a model with <paramref name="config"/>.</summary>
    public DecoderLayer(LlamaConfig config, int layer, ScalarType dtype, Device device) : base(nameof(DecoderLayer))
    {
        RmsNorm Norm() => new(config.HiddenSize, config.RmsNormEps, dtype, device, config.NormUnitOffset);
        input_layernorm = Norm();
        self_attn = new Attention(config, layer, dtype, device);
        post_attention_layernorm = Norm();
        if (config.SandwichNorms)
        {
            pre_feedforward_layernorm = Norm();
            post_feedforward_layernorm = Norm();
        }
        mlp = new Mlp(config, dtype, device);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public Attention SelfAttention => self_attn;

    /// <summary>The feed-forward block.</summary>
    public Mlp Mlp => mlp;

    /// <summary>x [B, N, D] → [B, N, D]; see <see cref="Attention.Forward"/> for the other arguments.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, DocumentSpans? spans, Tensor? mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        Tensor attended = self_attn.Forward(input_layernorm.call(x), cos, sin, spans, mask, cache);    // [B, N, D]
        Tensor y;
        if (pre_feedforward_layernorm is not null && post_feedforward_layernorm is not null)
        {
            Tensor h = x + post_attention_layernorm.call(attended);                                  // [B, N, D]
            y = h + post_feedforward_layernorm.call(mlp.call(pre_feedforward_layernorm.call(h)));    // [B, N, D]
        }
        else
        {
            Tensor h = x + attended;                                                                 // [B, N, D]
            y = h + mlp.call(post_attention_layernorm.call(h));                                      // [B, N, D]
        }
        return y.MoveToOuterDisposeScope();
    }
}
