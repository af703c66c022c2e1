using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Rotary position embeddings in Hugging Face's rotate-half layout: feature i of a head is paired with feature
/// i + headDim/2 and the pair is rotated by the angle <c>position · invFreq[i]</c>, where
/// <c>invFreq[i] = theta^(-2i / headDim)</c> (optionally rescaled by Llama-3 or linear rope scaling).
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _invFreq; // [headDim / 2]

    /// <summary>Creates the frequencies for heads of width <paramref name="headDim"/>; <paramref name="linearFactor"/> divides them (linear rope scaling).</summary>
    public RotaryEmbedding(int headDim, double theta, Llama3RopeScaling? scaling = null, double linearFactor = 1.0)
    {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The head width must be a positive even number.");
        HeadDim = headDim;
        _invFreq = InverseFrequencies(headDim, theta, scaling, linearFactor).Select(f => (float)f).ToArray();
    }

    /// <summary>Width of one attention head.</summary>
    public int HeadDim { get; }

    /// <summary>
    /// The inverse frequencies <c>theta^(-2i/headDim)</c>, i = 0 … headDim/2 − 1, with Llama-3 scaling applied when given:
    /// wavelengths longer than <c>original / lowFreqFactor</c> are divided by <c>factor</c>, those shorter than
    /// <c>original / highFreqFactor</c> are kept, and the band between is interpolated. Linear scaling divides every
    /// frequency by <paramref name="linearFactor"/> (Gemma 3's global layers).
    /// </summary>
    public static double[] InverseFrequencies(int headDim, double theta, Llama3RopeScaling? scaling, double linearFactor = 1.0)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            double f = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
            if (scaling is { } s)
            {
                double wavelength = 2 * Math.PI / f;
                double lowFreqWavelength = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
                double highFreqWavelength = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                if (wavelength > lowFreqWavelength)
                    f /= s.Factor;                                   // low frequencies: fully scaled
                else if (wavelength >= highFreqWavelength)
                {
                    double smooth = (s.OriginalMaxPositionEmbeddings / wavelength - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    f = (1 - smooth) * f / s.Factor + smooth * f;    // medium: interpolate
                }
            }
            inv[i] = f / linearFactor;
        }
        return inv;
    }

    /// <summary>
    /// cos and sin tables for the given positions: positionIds [B, N] int64 → (cos, sin), each [B, N, 1, headDim]
    /// in <paramref name="dtype"/>, ready to broadcast over the heads of q or k in the layout [B, N, heads, headDim].
    /// </summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor invFreq = tensor(_invFreq, device: positionIds.device);                       // [H/2]
        Tensor angles = positionIds.to(ScalarType.Float32).unsqueeze(-1) * invFreq;         // [B, N, H/2]
        Tensor emb = cat([angles, angles], dim: -1).unsqueeze(2);                          // [B, N, 1, H]
        return (emb.cos().to(dtype).MoveToOuterDisposeScope(), emb.sin().to(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>Rotates x [B, N, heads, headDim] by the angles in cos/sin [B, N, 1, headDim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        return (x * cos + RotateHalf(x) * sin).MoveToOuterDisposeScope();
    }

    /// <summary>(x1, x2) → (−x2, x1) where x1, x2 are the two halves of the last dimension.</summary>
    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        Tensor x1 = x.narrow(-1, 0, half);
        Tensor x2 = x.narrow(-1, half, half);
        return cat([x2.neg(), x1], dim: -1);
    }
}
