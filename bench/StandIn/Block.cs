using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>A pre-norm Llama block: x + attn(norm(x)), then + SwiGLU MLP(norm(x)).</summary>
internal sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm attentionNorm, mlpNorm;
    private readonly Linear gate, up, down;

    public Block(StandInConfig config) : base(nameof(Block))
    {
        attentionNorm = new RmsNorm(config.Dim, config.NormEps);
        Attention = new Attention(config);
        mlpNorm = new RmsNorm(config.Dim, config.NormEps);
        gate = nn.Linear(config.Dim, config.Hidden, hasBias: false);
        up = nn.Linear(config.Dim, config.Hidden, hasBias: false);
        down = nn.Linear(config.Hidden, config.Dim, hasBias: false);
        RegisterComponents();
    }

    public Attention Attention { get; }

    public override Tensor forward(Tensor x) // [B, N, D]
    {
        using var scope = NewDisposeScope();
        Tensor h = x + Attention.call(attentionNorm.call(x));
        Tensor m = mlpNorm.call(h);
        Tensor output = h + down.call(nn.functional.silu(gate.call(m)) * up.call(m));
        return output.MoveToOuterDisposeScope();
    }
}
