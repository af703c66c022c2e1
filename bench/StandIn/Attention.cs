using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>
/// Multi-head causal self-attention with RoPE. A padded batch runs one batched causal attention (right padding never
/// reaches real tokens); a packed batch runs causal attention per document ("varlen" attention, as FlashAttention's
/// variable-length kernels do), so no token sees another document and no work is spent across documents.
/// </summary>
internal sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly int heads, headDim;
    private (Tensor Cos, Tensor Sin) angles;
    private Documents? documents;

    public Attention(StandInConfig config) : base(nameof(Attention))
    {
        heads = config.Heads;
        headDim = config.HeadDim;
        q = nn.Linear(config.Dim, config.Dim, hasBias: false);
        k = nn.Linear(config.Dim, config.Dim, hasBias: false);
        v = nn.Linear(config.Dim, config.Dim, hasBias: false);
        o = nn.Linear(config.Dim, config.Dim, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Sets the RoPE angles and the documents of the next forward call.</summary>
    public void Prepare((Tensor Cos, Tensor Sin) ropeAngles, Documents docs)
    {
        angles = ropeAngles;
        documents = docs;
    }

    public override Tensor forward(Tensor x) // [B, N, D]
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], d = x.shape[2];
        Tensor query = Rope.Apply(q.call(x).view(b, n, heads, headDim), angles);              // [B, N, H, hd]
        Tensor key = Rope.Apply(k.call(x).view(b, n, heads, headDim), angles);
        Tensor value = v.call(x).view(b, n, heads, headDim);
        Tensor attended;                                                                        // [B, N, H, hd]
        if (documents!.SinglePerRow)
        {
            attended = nn.functional.scaled_dot_product_attention(
                query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), is_casual: true).transpose(1, 2);
        }
        else
        {
            // Documents are contiguous runs of the flattened token axis: split there, attend within each, concatenate.
            Tensor[] Runs(Tensor t) => t.reshape(b * n, heads, headDim).transpose(0, 1).split(documents.RunLengths, 1); // [H, s, hd] each
            Tensor[] qs = Runs(query), ks = Runs(key), vs = Runs(value);
            var outputs = new Tensor[qs.Length];
            for (int i = 0; i < qs.Length; i++)
                outputs[i] = nn.functional.scaled_dot_product_attention(qs[i].unsqueeze(0), ks[i].unsqueeze(0), vs[i].unsqueeze(0), is_casual: true).squeeze(0);
            attended = cat(outputs, 1).transpose(0, 1).reshape(b, n, heads, headDim);
        }
        return o.call(attended.reshape(b, n, d)).MoveToOuterDisposeScope();
    }
}
