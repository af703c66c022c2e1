using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// The shift by one on flattened grids: position i of row r predicts label i+1, so the labels that positions predict
/// form a [B, N-1] grid whose entry k is position (k div (N-1))·N + k mod (N-1) of the full [B·N] grid.
/// </summary>
internal static class ShiftedGrid
{
    /// <summary>The label each position predicts, flattened: labels [B, N] → [B·(N-1)].</summary>
    public static Tensor Targets(Tensor labels) => labels[.., 1..].reshape(labels.shape[0] * (labels.shape[1] - 1));

    /// <summary>Indices into the shifted grid [B·(N-1)] → the positions that predict them in the full grid [B·N].</summary>
    public static Tensor PredictingPositions(Tensor shiftedIndices, long n) =>
        shiftedIndices.div(n - 1, rounding_mode: RoundingMode.floor) * n + shiftedIndices.remainder(n - 1);
}
