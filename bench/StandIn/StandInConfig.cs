namespace PromptLossWeight.Bench.StandIn;

/// <summary>Shape of the stand-in Llama (replace with the real Llama config once it is on main).</summary>
internal sealed record StandInConfig(int Vocabulary, int Dim, int Layers, int Heads, int Hidden, int MaxPositions, double RopeTheta = 10000, double NormEps = 1e-5)
{
    public int HeadDim => Dim / Heads;

    /// <summary>Parameters of the matmuls in the transformer blocks (attention q, k, v, o and the SwiGLU MLP).</summary>
    public long BlockMatmulParameters => (long)Layers * (4L * Dim * Dim + 3L * Dim * Hidden);

    /// <summary>Parameters of the LM head.</summary>
    public long HeadParameters => (long)Vocabulary * Dim;
}
