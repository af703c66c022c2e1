using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>RMSNorm: x / sqrt(mean(x²) + eps) · weight.</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(long dim, double eps) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(dim));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // [B, N, D]
    {
        using var scope = NewDisposeScope();
        Tensor normed = x * (x.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
        return (normed * weight).MoveToOuterDisposeScope();
    }
}
