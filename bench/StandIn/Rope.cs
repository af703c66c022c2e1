using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>Rotary position embedding in the rotate-half (Hugging Face) layout, indexed by position ids.</summary>
internal sealed class Rope
{
    private readonly Tensor cos, sin; // [maxPositions, headDim]

    public Rope(int headDim, int maxPositions, double theta)
    {
        Tensor inv = pow(theta, -arange(0, headDim, 2, dtype: ScalarType.Float32) / headDim);       // [hd/2]
        Tensor angles = outer(arange(maxPositions, dtype: ScalarType.Float32), inv);               // [P, hd/2]
        Tensor both = cat([angles, angles], 1);                                                     // [P, hd]
        cos = both.cos().DetachFromDisposeScope();
        sin = both.sin().DetachFromDisposeScope();
    }

    /// <summary>The cos and sin tables [B, N, 1, hd] of positions [B, N] (looked up once per forward pass).</summary>
    public (Tensor Cos, Tensor Sin) Angles(Tensor positions)
    {
        long b = positions.shape[0], n = positions.shape[1], hd = cos.shape[1];
        Tensor flat = positions.flatten();
        return (cos.index_select(0, flat).reshape(b, n, 1, hd), sin.index_select(0, flat).reshape(b, n, 1, hd));
    }

    /// <summary>Rotates q or k [B, N, H, hd] by the given angles.</summary>
    public static Tensor Apply(Tensor x, (Tensor Cos, Tensor Sin) angles)
    {
        using var scope = NewDisposeScope();
        long hd = x.shape[3];
        Tensor first = x.narrow(3, 0, hd / 2), second = x.narrow(3, hd / 2, hd / 2);
        Tensor rotated = cat([-second, first], 3);
        return (x * angles.Cos + rotated * angles.Sin).MoveToOuterDisposeScope();
    }
}
