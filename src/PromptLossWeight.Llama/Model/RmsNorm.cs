using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Root-mean-square layer norm: <c>weight · x / sqrt(mean(x²) + eps)</c> over the last dimension, or Gemma's
/// <c>(1 + weight) · x / sqrt(mean(x²) + eps)</c> (<c>unitOffset</c>). The statistics are computed in fp32 whatever the
/// model dtype (as Hugging Face does); Llama casts the normalised x back before the scale, Gemma scales in fp32 and casts
/// the product.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face tensor names
    private readonly Parameter weight; // [D]
#pragma warning restore IDE1006
    private readonly double _eps;
    private readonly bool _unitOffset;

    /// <summary>Creates a norm over <paramref name="dim"/> features that is the identity: weight 1, or 0 with <paramref name="unitOffset"/>.</summary>
    public RmsNorm(long dim, double eps, ScalarType dtype = ScalarType.Float32, Device? device = null, bool unitOffset = false) : base(nameof(RmsNorm))
    {
        _eps = eps;
        _unitOffset = unitOffset;
        weight = new Parameter(unitOffset ? zeros(dim, dtype: dtype, device: device) : ones(dim, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>True for Gemma's (1 + weight) scale, whose identity weight is 0.</summary>
    public bool UnitOffset => _unitOffset;

    /// <summary>The scale [D].</summary>
    public Parameter Weight => weight;

    /// <summary>x [.., D] → normalised x [.., D] in the input dtype.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor x32 = x.to(ScalarType.Float32);
        Tensor normed = x32 * rsqrt(x32.pow(2).mean([-1], keepdim: true) + _eps); // [.., D]
        Tensor y = _unitOffset
            ? (normed * (weight.to(ScalarType.Float32) + 1.0)).to(x.dtype)        // Gemma: (x̂ · (1 + w)) in fp32, then cast
            : weight * normed.to(x.dtype);                                         // Llama: w · (x̂ cast)
        return y.MoveToOuterDisposeScope();
    }
}
