using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Models;
using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// A weighted next-token loss over a model's outputs, as the <c>Trainer</c> calls it: it runs the model on a batch in
/// the form it needs (logits, or hidden states for a loss that never builds logits) and returns Σ wᵢℓᵢ divided by a
/// normaliser. It also supplies the per-token evaluation statistics, from the same outputs.
/// </summary>
public interface IWeightedLoss
{
    /// <summary>
    /// What the loss divides by (<see cref="LossNormalization"/>): Σw by default. The <c>Trainer</c> sums this divisor
    /// (<see cref="WeightedCrossEntropy.Normalizer"/>) over every micro-batch of a step and passes it as the normaliser.
    /// </summary>
    LossNormalization Normalization => LossNormalization.WeightSum;

    /// <summary>
    /// The loss of <paramref name="model"/> on <paramref name="batch"/> with per-token <paramref name="weights"/>.
    /// </summary>
    /// <param name="model">The model to run (its forward pass is part of the loss computation).</param>
    /// <param name="batch">Token ids, attention mask, position ids and labels.</param>
    /// <param name="weights">[B, N] token weights (for PLW: PLW on prompt tokens, 1 on completion tokens).</param>
    /// <param name="normalizer">The divisor (Σw or #{w &gt; 0} of the whole step); null means that of this batch under <see cref="Normalization"/>.</param>
    Tensor Compute(ICausalLanguageModel model, Batch batch, Tensor weights, double? normalizer = null);

    /// <summary>
    /// The per-token evaluation statistics of <paramref name="model"/> on <paramref name="batch"/>, computed from the
    /// outputs this loss works from (the <c>Trainer</c> reduces them to per-sequence sums). Runs without gradients.
    /// Default: from the model's full logits (<see cref="TokenStatistics.FromLogits"/>).
    /// </summary>
    /// <param name="model">The model to run.</param>
    /// <param name="batch">The batch (labels give the targets).</param>
    /// <param name="answerTokenIds">Token ids among which <see cref="TokenStatistics.AnswerCorrect"/> takes the argmax; null for none.</param>
    TokenStatistics EvaluationStatistics(ICausalLanguageModel model, Batch batch, IReadOnlyList<long>? answerTokenIds)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        return Moved(TokenStatistics.FromLogits(logits, batch.Labels, answerTokenIds));
    }

    /// <summary>Moves the tensors of <paramref name="statistics"/> out of the current dispose scope.</summary>
    internal static TokenStatistics Moved(TokenStatistics statistics)
    {
        statistics.Loss.MoveToOuterDisposeScope();
        statistics.Correct.MoveToOuterDisposeScope();
        statistics.AnswerCorrect?.MoveToOuterDisposeScope();
        return statistics;
    }
}

/// <summary>
/// The <see cref="IWeightedLoss"/> over full logits: computes the [B, N, V] logits, then <see cref="WeightedCrossEntropy"/>.
/// (The trainer's default is <see cref="ChunkedWeightedCrossEntropy"/>, which avoids building the logits.)
/// </summary>
public sealed class LogitsWeightedLoss : IWeightedLoss
{
    /// <summary>Creates the loss; <paramref name="normalization"/> says what it divides by.</summary>
    public LogitsWeightedLoss(LossNormalization normalization = LossNormalization.WeightSum)
    {
        if (!Enum.IsDefined(normalization)) throw new ArgumentOutOfRangeException(nameof(normalization), normalization, "Unknown loss normalization.");
        Normalization = normalization;
    }

    /// <inheritdoc />
    public LossNormalization Normalization { get; }

    /// <inheritdoc />
    public Tensor Compute(ICausalLanguageModel model, Batch batch, Tensor weights, double? normalizer = null)
    {
        using var scope = NewDisposeScope();
        Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        Tensor loss = normalizer is double n
            ? WeightedCrossEntropy.Compute(logits, batch.Labels, weights, n)
            : WeightedCrossEntropy.Compute(logits, batch.Labels, weights, Normalization);
        return loss.MoveToOuterDisposeScope();
    }
}
