namespace PromptLossWeight.Evaluation;

/// <summary>The names of the metrics the default <c>Trainer.ComputeMetrics</c> reports (also the CSV/JSONL column names).</summary>
public static class MetricNames
{
    /// <summary>Mean next-token loss over prompt tokens (unweighted: the PLW does not enter evaluation).</summary>
    public const string PromptLoss = "prompt_loss";

    /// <summary>Mean next-token loss over completion tokens: the metric that matters for generation quality.</summary>
    public const string CompletionLoss = "completion_loss";

    /// <summary>Mean next-token loss over every real token (prompt and completion, each token counted once).</summary>
    public const string FullLoss = "full_loss";

    /// <summary>Fraction of completion tokens whose argmax prediction over the whole vocabulary is the label.</summary>
    public const string CompletionTokenAccuracy = "completion_token_accuracy";

    /// <summary>
    /// Fraction of answer tokens (completion positions whose label is one of the configured answer token ids) for which
    /// the argmax of the logits restricted to the answer ids is the label.
    /// </summary>
    public const string Accuracy = "accuracy";

    /// <summary>
    /// The training objective under <c>LossNormalization.WeightSum</c> on the evaluation set: Σ wᵢℓᵢ / Σ wᵢ over every
    /// evaluated token, with the weights of the current step (PLW or role weights, λc, and the data weights); equal to
    /// that loss of the whole evaluation set as one batch.
    /// </summary>
    public const string WeightedLoss = "weighted_loss";

    /// <summary>
    /// The training objective under <c>LossNormalization.NonZeroTokens</c> on the evaluation set: Σ wᵢℓᵢ divided by the
    /// number of evaluated tokens with wᵢ &gt; 0 (Weighted Instruction Tuning).
    /// </summary>
    public const string WeightedLossNonZero = "weighted_loss_nonzero";
}
