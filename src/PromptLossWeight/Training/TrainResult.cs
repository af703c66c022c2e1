using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>The outcome of <see cref="Trainer.Train"/>: the run's final state, why it ended, and its checkpoints.</summary>
/// <param name="State">The state at the end of the run.</param>
/// <param name="StopReason">Why training ended: "max steps reached", "early stopping", or a callback's reason.</param>
/// <param name="BestCheckpointPath">The checkpoint with the best <c>MetricForBest</c>, or null when none was evaluated.</param>
/// <param name="LastCheckpointPath">The newest checkpoint written, or null.</param>
public sealed record TrainResult(TrainerState State, string StopReason, string? BestCheckpointPath, string? LastCheckpointPath)
{
    /// <summary>Every evaluation of the run (including those before a resume).</summary>
    public IReadOnlyList<MetricRecord> History => State.History;

    /// <summary>The best value of <c>MetricForBest</c> (NaN when none).</summary>
    public double BestMetric => State.BestMetric;

    /// <summary>Optimizer steps completed.</summary>
    public long Steps => State.Step;

    /// <summary>Steps whose update was skipped because of non-finite values.</summary>
    public long SkippedSteps => State.SkippedSteps;
}
