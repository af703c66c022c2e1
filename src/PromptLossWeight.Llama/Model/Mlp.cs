using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// The gated feed-forward block: <c>down(act(gate(x)) · up(x))</c>, SwiGLU (act = SiLU) or, for Gemma, GeGLU with the
/// tanh approximation of GELU.
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>, IProjectionOwner
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private nn.Module<Tensor, Tensor> gate_proj; // D → I
    private nn.Module<Tensor, Tensor> up_proj;   // D → I
    private nn.Module<Tensor, Tensor> down_proj; // I → D
#pragma warning restore IDE1006
    private readonly HiddenActivation _activation;

    /// <summary>Creates the three projections for <paramref name="config"/>.</summary>
    public Mlp(LlamaConfig config, ScalarType dtype, Device device) : base(nameof(Mlp))
    {
        _activation = config.Activation;
        long d = config.HiddenSize, inner = config.IntermediateSize;
        gate_proj = new Projection(d, inner, dtype, device);
        up_proj = new Projection(d, inner, dtype, device);
        down_proj = new Projection(inner, d, dtype, device);
        RegisterComponents();
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, nn.Module<Tensor, Tensor>> Projections => new Dictionary<string, nn.Module<Tensor, Tensor>>
    {
        ["gate_proj"] = gate_proj, ["up_proj"] = up_proj, ["down_proj"] = down_proj,
    };

    /// <inheritdoc />
    public void SetProjection(string name, nn.Module<Tensor, Tensor> projection)
    {
        switch (name)
        {
            case "gate_proj": gate_proj = projection; break;
            case "up_proj": up_proj = projection; break;
            case "down_proj": down_proj = projection; break;
            default: throw new ArgumentException($"Mlp has no projection \"{name}\" (it has gate_proj, up_proj, down_proj).", nameof(name));
        }
        register_module(name, null!);
        register_module(name, projection);
    }

    /// <summary>x [B, N, D] → [B, N, D].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor gate = gate_proj.call(x);                                              // [B, N, I]
        Tensor activated = _activation == HiddenActivation.Silu ? nn.functional.silu(gate) : GeluTanh(gate);
        Tensor hidden = activated * up_proj.call(x);                                  // [B, N, I]
        return down_proj.call(hidden).MoveToOuterDisposeScope();                      // [B, N, D]
    }

    /// <summary>GELU, tanh approximation: <c>x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))</c>, computed in fp32.</summary>
    public static Tensor GeluTanh(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor x32 = x.to(ScalarType.Float32);
        Tensor inner = (x32 + x32.pow(3) * 0.044715) * Math.Sqrt(2.0 / Math.PI);
        return (x32 * 0.5 * (inner.tanh() + 1.0)).to(x.dtype).MoveToOuterDisposeScope();
    }
}
