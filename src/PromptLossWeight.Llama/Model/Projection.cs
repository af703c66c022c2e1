using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// A linear map <c>y = x · Wᵀ</c> with W [out, in], bias-free as every Llama projection is, or <c>y = x · Wᵀ + b</c>
/// for Qwen2's q/k/v projections. Unlike
/// <c>nn.Linear</c> it allocates its weight without initialising it, so loading a large checkpoint does not first spend
/// time filling weights that are overwritten at once (<see cref="LlamaForCausalLM.InitializeWeights"/> fills fresh models).
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field name is the Hugging Face tensor name
    private readonly Parameter weight; // [out, in]
    private readonly Parameter? bias;  // [out], or none
#pragma warning restore IDE1006

    /// <summary>Allocates an uninitialised [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] weight, and an [out] bias when <paramref name="hasBias"/>.</summary>
    public Projection(long inFeatures, long outFeatures, ScalarType dtype, Device device, bool hasBias = false) : base(nameof(Projection))
    {
        weight = new Parameter(empty(outFeatures, inFeatures, dtype: dtype, device: device));
        if (hasBias) bias = new Parameter(empty(outFeatures, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>b [out], or null for a bias-free projection.</summary>
    public Parameter? Bias => bias;

    /// <summary>W [out, in].</summary>
    public Parameter Weight => weight;

    /// <summary>Input width.</summary>
    public long InFeatures => weight.shape[1];

    /// <summary>Output width.</summary>
    public long OutFeatures => weight.shape[0];

    /// <summary>x [.., in] → [.., out].</summary>
    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight, bias);
}
