namespace PromptLossWeight.Training;

/// <summary>Where the trainer's evaluation statistics come from (<see cref="TrainerOptions.EvaluationSource"/>).</summary>
public enum EvaluationSource
{
    /// <summary>
    /// The loss's own token statistics (<c>IWeightedLoss.EvaluationStatistics</c>): the default chunked loss works from
    /// hidden states and never builds [B, N, V] logits. <c>Trainer.PreprocessLogitsForMetrics</c> is not called.
    /// </summary>
    Loss,

    /// <summary>
    /// The model's full [B, N, V] logits, through <c>Trainer.PreprocessLogitsForMetrics</c> (override it for statistics of
    /// your own). Costs the memory of the logits of an evaluation batch.
    /// </summary>
    Logits,
}
