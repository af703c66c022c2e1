using PromptLossWeight.Batching;
using PromptLossWeight.Models;
using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// A weighted next-token loss, as the <c>Trainer</c> calls it: it runs the model on a batch in the form it needs
/// (logits, or hidden states for a loss that never builds logits) and returns Σ wᵢℓᵢ divided by a normaliser.
/// </summary>
public interface IWeightedLoss
{
    /// <summary>
    /// The loss of <paramref name="model"/> on <paramref name="batch"/> with per-token <paramref name="weights"/>.
    /// </summary>
    /// <param name="model">The model to run (its forward pass is part of the loss computation).</param>
    /// <param name="batch">Token ids, attention mask, position ids and labels.</param>
    /// <param name="weights">[B, N] token weights (for PLW: PLW on prompt tokens, 1 on completion tokens).</param>
    /// <param name="normalizer">Σw to divide by; null means Σw of this batch (a plain weighted mean).</param>
    Tensor Compute(ICausalLanguageModel model, Batch batch, Tensor weights, double? normalizer = null);
}

/// <summary>
/// The default <see cref="IWeightedLoss"/>: computes the logits, then <see cref="WeightedCrossEntropy"/>.
/// </summary>
public sealed class LogitsWeightedLoss : IWeightedLoss
{
    /// <inheritdoc />
    public Tensor Compute(ICausalLanguageModel model, Batch batch, Tensor weights, double? normalizer = null)
    {
        using var scope = NewDisposeScope();
        Tensor logits = model.Logits(batch.InputIds, batch.AttentionMask, batch.PositionIds);
        Tensor loss = normalizer is double n
            ? WeightedCrossEntropy.Compute(logits, batch.Labels, weights, n)
            : WeightedCrossEntropy.Compute(logits, batch.Labels, weights);
        return loss.MoveToOuterDisposeScope();
    }
}
