using PromptLossWeight.Llama.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Lora;

/// <summary>
/// A frozen linear layer plus a trainable low-rank update:
/// <c>y = base(x) + scaling · lora_B(lora_A(dropout(x)))</c>, with lora_A [r, in] and lora_B [out, r].
/// The adapter weights are kept in fp32 whatever the base dtype; the update is added in the input's dtype.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are PEFT's module names
    private readonly Projection base_layer; // in → out, frozen
    private readonly Linear lora_A;     // in → r
    private readonly Linear lora_B;     // r → out
#pragma warning restore IDE1006
    private readonly Dropout? _dropout;

    /// <summary>
    /// Wraps <paramref name="baseLayer"/>. A is initialised like a default linear layer
    /// (uniform in ±1/√in, drawn from <paramref name="generator"/>), B with zeros, so the wrapped layer starts identical.
    /// </summary>
    public LoraLinear(Projection baseLayer, int r, double alpha, double dropout, Generator generator) : base(nameof(LoraLinear))
    {
        Tensor w = baseLayer.Weight;
        long outFeatures = w.shape[0], inFeatures = w.shape[1];
        Scaling = alpha / r;
        base_layer = baseLayer;
        lora_A = nn.Linear(inFeatures, r, hasBias: false, device: w.device, dtype: ScalarType.Float32);
        lora_B = nn.Linear(r, outFeatures, hasBias: false, device: w.device, dtype: ScalarType.Float32);
        using (no_grad())
        {
            double bound = 1.0 / Math.Sqrt(inFeatures);
            using Tensor init = rand([r, inFeatures], generator: generator) * (2 * bound) - bound;
            lora_A.weight!.copy_(init);
            lora_B.weight!.zero_();
        }
        _dropout = dropout > 0 ? nn.Dropout(dropout) : null;
        RegisterComponents();
    }

    /// <summary>alpha / r.</summary>
    public double Scaling { get; }

    /// <summary>True while the update is folded into the base weight (the adapter branch is then skipped).</summary>
    public bool IsMerged { get; private set; }

    /// <summary>The wrapped layer.</summary>
    public Projection BaseLayer => base_layer;

    /// <summary>A [r, in].</summary>
    public Parameter LoraA => lora_A.weight!;

    /// <summary>B [out, r].</summary>
    public Parameter LoraB => lora_B.weight!;

    /// <summary>x [.., in] → [.., out].</summary>
    public override Tensor forward(Tensor x)
    {
        if (IsMerged) return base_layer.call(x);
        using var scope = NewDisposeScope();
        Tensor input = x.to(lora_A.weight!.dtype);
        if (_dropout is not null) input = _dropout.call(input);
        Tensor update = lora_B.call(lora_A.call(input)) * Scaling;               // [.., out] fp32
        return (base_layer.call(x) + update.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Adds scaling · B·A to the base weight (computed in fp32). Does nothing when already merged.</summary>
    public void Merge()
    {
        if (IsMerged) return;
        ApplyDelta(+1);
        IsMerged = true;
    }

    /// <summary>Subtracts scaling · B·A from the base weight again. Does nothing when not merged.</summary>
    public void Unmerge()
    {
        if (!IsMerged) return;
        ApplyDelta(-1);
        IsMerged = false;
    }

    private void ApplyDelta(int sign)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor weight = base_layer.Weight;
        Tensor delta = LoraB.to(ScalarType.Float32).matmul(LoraA.to(ScalarType.Float32)) * (sign * Scaling); // [out, in] fp32
        weight.copy_((weight.to(ScalarType.Float32) + delta).to(weight.dtype));
    }
}
