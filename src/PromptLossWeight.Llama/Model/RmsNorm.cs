using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Root-mean-square layer norm: <c>weight · x / sqrt(mean(x²) + eps)</c> over the last dimension.
/// The statistics are computed in fp32 whatever the model dtype (as Hugging Face does).
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face tensor names
    private readonly Parameter weight; // [D]
#pragma warning restore IDE1006
    private readonly double _eps;

    /// <summary>Creates a norm over <paramref name="dim"/> features, with weight 1.</summary>
    public RmsNorm(long dim, double eps, ScalarType dtype = ScalarType.Float32, Device? device = null) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(dim, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>The scale [D].</summary>
    public Parameter Weight => weight;

    /// <summary>x [.., D] → normalised x [.., D] in the input dtype.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor x32 = x.to(ScalarType.Float32);
        Tensor normed = x32 * rsqrt(x32.pow(2).mean([-1], keepdim: true) + _eps); // [.., D]
        return (weight * normed.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
