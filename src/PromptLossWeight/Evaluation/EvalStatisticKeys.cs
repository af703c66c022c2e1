namespace PromptLossWeight.Evaluation;

/// <summary>
/// Keys of the per-sequence statistics ([B] tensors) that <see cref="EvalReductions"/> produces for each evaluation
/// batch (from the loss's token statistics, or through <c>Trainer.PreprocessLogitsForMetrics</c>) and the default
/// <c>Trainer.ComputeMetrics</c> reads.
/// </summary>
public static class EvalStatisticKeys
{
    /// <summary>Σ of the next-token losses of the prompt tokens of each sequence.</summary>
    public const string PromptLossSum = "prompt_loss_sum";

    /// <summary>Number of prompt tokens predicted in each sequence.</summary>
    public const string PromptTokens = "prompt_tokens";

    /// <summary>Σ of the next-token losses of the completion tokens of each sequence.</summary>
    public const string CompletionLossSum = "completion_loss_sum";

    /// <summary>Number of completion tokens predicted in each sequence.</summary>
    public const string CompletionTokens = "completion_tokens";

    /// <summary>Number of completion tokens of each sequence whose argmax prediction is the label.</summary>
    public const string CompletionCorrect = "completion_correct";

    /// <summary>Number of answer tokens of each sequence predicted correctly (argmax over the answer ids only).</summary>
    public const string AnswerCorrect = "answer_correct";

    /// <summary>Number of answer tokens of each sequence (completion positions whose label is an answer id).</summary>
    public const string AnswerTotal = "answer_total";

    /// <summary>Σ wᵢℓᵢ of each sequence with the training loss weights (role weights times data weights).</summary>
    public const string WeightedLossSum = "weighted_loss_sum";

    /// <summary>Σ wᵢ of the predicted tokens of each sequence.</summary>
    public const string WeightSum = "weight_sum";

    /// <summary>Number of predicted tokens of each sequence whose weight is above 0.</summary>
    public const string WeightedTokens = "weighted_tokens";
}
