namespace PromptLossWeight.Loss;

/// <summary>
/// What the weighted next-token loss Σ wᵢℓᵢ is divided by. Either way the divisor covers everything an optimizer step
/// covers (all micro-batches of a gradient-accumulation step, all documents of packed rows), so splitting a step
/// changes neither the loss nor the gradients.
/// </summary>
public enum LossNormalization
{
    /// <summary>
    /// Σ wᵢℓᵢ / Σ wᵢ, the weighted mean (the default): with PLW λp on prompt tokens and 1 on completion tokens only the
    /// ratio of the weights matters.
    /// </summary>
    WeightSum,

    /// <summary>
    /// Σ wᵢℓᵢ / #{i : wᵢ &gt; 0}, the number of predicted tokens that carry any weight (Weighted Instruction Tuning):
    /// the weights' scale matters, so λp = λc = 0.5 halves the loss of λp = λc = 1.
    /// </summary>
    NonZeroTokens,
}
