using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// Prompt-loss-weighted cross-entropy for causal language models: the weighted mean Σ wᵢℓᵢ / Σ wᵢ of the
/// next-token losses, where the logits at position i predict the label at position i+1 and that prediction
/// carries the weight of the token being predicted (<c>weights[:, 1:]</c>). Labels equal to
/// <see cref="IgnoreIndex"/> (padding, or tokens excluded on purpose) count with weight 0.
/// </summary>
/// <remarks>All arithmetic on the losses is done in fp32 for fp32, bf16 and fp16 logits (fp64 logits stay fp64).</remarks>
public static class WeightedCrossEntropy
{
    /// <summary>The label value that marks a token as ignored: <see cref="TokenLabels.IgnoreIndex"/> (-100, the PyTorch / Hugging Face convention).</summary>
    public const long IgnoreIndex = TokenLabels.IgnoreIndex;

    /// <summary>
    /// The weighted mean loss of a batch: Σ wᵢℓᵢ / Σ wᵢ over the shifted, non-ignored tokens.
    /// Returns 0 (with zero gradient) when the weights sum to 0.
    /// </summary>
    /// <param name="logits">[B, N, V] fp32, bf16 or fp16, on any device.</param>
    /// <param name="labels">[B, N] int64; <see cref="IgnoreIndex"/> marks ignored tokens.</param>
    /// <param name="weights">[B, N] floating point, finite and ≥ 0: the weight of each token as a prediction target.</param>
    public static Tensor Compute(Tensor logits, Tensor labels, Tensor weights)
    {
        using var scope = NewDisposeScope();
        var (sum, total) = WeightedSumAndTotal(logits, labels, weights);
        // where(Σw > 0, Σwℓ / Σw, 0): the clamp keeps the unused branch finite, so the gradient is 0, not NaN.
        Tensor loss = where(total > 0, sum / total.clamp_min(1e-30), zeros_like(sum));
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The weighted loss of a batch divided as <paramref name="normalization"/> says: Σ wᵢℓᵢ / Σ wᵢ
    /// (<see cref="LossNormalization.WeightSum"/>) or Σ wᵢℓᵢ / #{wᵢ &gt; 0} (<see cref="LossNormalization.NonZeroTokens"/>),
    /// over the shifted, non-ignored tokens. Returns 0 (with zero gradient) when no token has weight.
    /// </summary>
    /// <param name="logits">[B, N, V] fp32, bf16 or fp16, on any device.</param>
    /// <param name="labels">[B, N] int64; <see cref="IgnoreIndex"/> marks ignored tokens.</param>
    /// <param name="weights">[B, N] floating point, finite and ≥ 0.</param>
    /// <param name="normalization">The divisor.</param>
    public static Tensor Compute(Tensor logits, Tensor labels, Tensor weights, LossNormalization normalization)
    {
        if (normalization == LossNormalization.WeightSum) return Compute(logits, labels, weights);
        Validate(logits, labels, weights);
        return Compute(logits, labels, weights, Normalizer(labels, weights, normalization));
    }

    /// <summary>
    /// The divisor of this batch's loss under <paramref name="normalization"/>: Σ of the shifted, non-ignored weights, or
    /// the number of them above 0. Sum it over the micro-batches (or ranks) of a step and pass the total to
    /// <see cref="Compute(Tensor, Tensor, Tensor, double)"/>, so that the parts add up to the loss of the whole step.
    /// </summary>
    /// <param name="labels">[B, N] int64.</param>
    /// <param name="weights">[B, N], finite and ≥ 0.</param>
    /// <param name="normalization">Which divisor.</param>
    public static double Normalizer(Tensor labels, Tensor weights, LossNormalization normalization)
    {
        using var scope = NewDisposeScope();
        return NormalizerTensor(labels, weights, normalization).item<double>();
    }

    /// <summary>The <see cref="Normalizer"/> as a fp64 scalar on the weights' device (no host read).</summary>
    internal static Tensor NormalizerTensor(Tensor labels, Tensor weights, LossNormalization normalization)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor w = ShiftedWeights(labels, weights);
        Tensor total = normalization switch
        {
            LossNormalization.WeightSum => w.to(ScalarType.Float64).sum(),
            LossNormalization.NonZeroTokens => w.gt(0).sum(),
            _ => throw new ArgumentOutOfRangeException(nameof(normalization), normalization, "Unknown loss normalization."),
        };
        return total.to(ScalarType.Float64).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The weighted loss divided by a normaliser given from outside: Σ wᵢℓᵢ / <paramref name="normalizer"/>.
    /// Use it when a loss is split across micro-batches (gradient accumulation) or rows (packing): pass Σw of the
    /// whole step (<see cref="Normalizer"/>, summed) so the summed micro-batch losses equal the loss of the whole batch exactly.
    /// </summary>
    /// <param name="logits">[B, N, V].</param>
    /// <param name="labels">[B, N] int64.</param>
    /// <param name="weights">[B, N], finite and ≥ 0.</param>
    /// <param name="normalizer">Σw over everything the step covers; must be finite and ≥ 0. When 0 the loss is 0.</param>
    public static Tensor Compute(Tensor logits, Tensor labels, Tensor weights, double normalizer)
    {
        ValidateNormalizer(normalizer);
        using var scope = NewDisposeScope();
        var (sum, _) = WeightedSumAndTotal(logits, labels, weights);
        Tensor loss = normalizer > 0 ? sum / normalizer : sum * 0.0;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Σ wᵢℓᵢ and Σ wᵢ over the shifted, non-ignored tokens, both fp32 scalars on the logits' device.
    /// The building block for custom reductions (accumulation, packing, distributed sums).
    /// </summary>
    public static (Tensor WeightedSum, Tensor WeightTotal) WeightedSumAndTotal(Tensor logits, Tensor labels, Tensor weights)
    {
        Validate(logits, labels, weights);
        using var scope = NewDisposeScope();
        Tensor tokenLoss = PerTokenUnchecked(logits, labels);             // [B, N-1] fp32
        Tensor w = ShiftedWeights(labels, weights);                        // [B, N-1] fp32, 0 where ignored
        Tensor sum = (tokenLoss * w).sum();
        Tensor total = w.sum();
        return (sum.MoveToOuterDisposeScope(), total.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The shifted per-token losses [B, N-1] in fp32: entry (b, i) is the cross-entropy of the logits at i
    /// against the label at i+1, and 0 where that label is ignored.
    /// </summary>
    public static Tensor PerToken(Tensor logits, Tensor labels)
    {
        LossInputChecks.ValidateLogitsAndLabels(logits, labels);
        return PerTokenUnchecked(logits, labels);
    }

    /// <summary>
    /// The weights aligned with <see cref="PerToken"/>: <c>weights[:, 1:]</c> as fp32, with 0 where the label
    /// being predicted is ignored.
    /// </summary>
    public static Tensor ShiftedWeights(Tensor labels, Tensor weights)
    {
        using var scope = NewDisposeScope();
        Tensor target = labels[.., 1..];
        Tensor w = weights[.., 1..].to(weights.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        return where(target.ne(IgnoreIndex), w, zeros_like(w)).MoveToOuterDisposeScope();
    }

    private static Tensor PerTokenUnchecked(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        long b = logits.shape[0], n = logits.shape[1], v = logits.shape[2];
        Tensor predicting = logits[.., ..(int)(n - 1), ..].to(AccumulationType(logits)).reshape(b * (n - 1), v); // [B·(N-1), V]
        Tensor target = labels[.., 1..].reshape(b * (n - 1));                                                // [B·(N-1)]
        Tensor loss = nn.functional.cross_entropy(predicting, target, ignore_index: IgnoreIndex, reduction: nn.Reduction.None);
        return loss.reshape(b, n - 1).MoveToOuterDisposeScope();
    }

    internal static void ValidateNormalizer(double normalizer)
    {
        if (!double.IsFinite(normalizer) || normalizer < 0)
            throw new ArgumentException($"The normaliser must be finite and >= 0, got {normalizer}.", nameof(normalizer));
    }

    internal static void Validate(Tensor logits, Tensor labels, Tensor weights, string what = "logits")
    {
        LossInputChecks.ValidateLogitsAndLabels(logits, labels, what);
        if (weights.dim() != 2 || weights.shape[0] != labels.shape[0] || weights.shape[1] != labels.shape[1])
            throw new ArgumentException($"weights must be [B, N] like labels {LossInputChecks.Shape(labels)}; got {LossInputChecks.Shape(weights)}.", nameof(weights));
        if (!is_floating_point(weights))
            throw new ArgumentException($"weights must be floating point; got {weights.dtype}.", nameof(weights));
        if (!LossInputChecks.SameDevice(weights, logits))
            throw new ArgumentException($"weights are on {weights.device} but {what} are on {logits.device}.", nameof(weights));
        RequireFiniteNonNegative(weights);
    }

    /// <summary>
    /// Checks that <paramref name="weights"/> are finite and ≥ 0: one host read for both, or none inside a
    /// <see cref="DeferredChecks"/> scope (the trainer reads them with its step's normaliser).
    /// </summary>
    internal static void RequireFiniteNonNegative(Tensor weights)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        string shape = LossInputChecks.Shape(weights);
        DeferredChecks.Require(nameof(weights),
            (isfinite(weights).all(), $"weights {shape} contain NaN or infinity."),
            (weights.ge(0).all(), $"weights {shape} contain negative values; weights must be >= 0."));
    }

    /// <summary>fp32 for fp32/bf16/fp16 logits; fp64 stays fp64 (useful for gradient checks).</summary>
    internal static ScalarType AccumulationType(Tensor logits) => logits.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
}
