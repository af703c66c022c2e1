using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>One pre-norm transformer block: <c>x + attn(norm(x))</c>, then <c>x + mlp(norm(x))</c>.</summary>
public sealed class DecoderLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private readonly RmsNorm input_layernorm;
    private readonly Attention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly Mlp mlp;
#pragma warning restore IDE1006

    /// <summary>Creates layer <paramref name="layer"/> of a model with <paramref name="config"/>.</summary>
    public DecoderLayer(LlamaConfig config, int layer, ScalarType dtype, Device device) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype, device);
        self_attn = new Attention(config, layer, dtype, device);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype, device);
        mlp = new Mlp(config, dtype, device);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public Attention SelfAttention => self_attn;

    /// <summary>The feed-forward block.</summary>
    public Mlp Mlp => mlp;

    /// <summary>x [B, N, D] → [B, N, D]; see <see cref="Attention.Forward"/> for the other arguments.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        Tensor h = x + self_attn.Forward(input_layernorm.call(x), cos, sin, mask, cache); // [B, N, D]
        Tensor y = h + mlp.call(post_attention_layernorm.call(h));                        // [B, N, D]
        return y.MoveToOuterDisposeScope();
    }
}
