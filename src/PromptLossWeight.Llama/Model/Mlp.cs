using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>The SwiGLU feed-forward block: <c>down(silu(gate(x)) · up(x))</c>.</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>, IProjectionOwner
{
#pragma warning disable IDE1006 // field names are the Hugging Face module names
    private nn.Module<Tensor, Tensor> gate_proj; // D → I
    private nn.Module<Tensor, Tensor> up_proj;   // D → I
    private nn.Module<Tensor, Tensor> down_proj; // I → D
#pragma warning restore IDE1006

    /// <summary>Creates the three projections for <paramref name="config"/>.</summary>
    public Mlp(LlamaConfig config, ScalarType dtype, Device device) : base(nameof(Mlp))
    {
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
        Tensor hidden = nn.functional.silu(gate_proj.call(x)) * up_proj.call(x); // [B, N, I]
        return down_proj.call(hidden).MoveToOuterDisposeScope();                  // [B, N, D]
    }
}
