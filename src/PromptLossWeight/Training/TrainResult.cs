using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>The outcome of <see cref="Trainer.Train"/>.</summary>
/// <param name="History">Every evaluation of the run (including those before a resume).</param>
/// <param name="BestCheckpointPath">The checkpoint with the best <c>MetricForBest</c>, or null when none was evaluated.</param>
/// <param name="BestMetric">The best value of <c>MetricForBest</c> (NaN when none).</param>
/// <param name="Steps">Optimizer steps completed.</param>
/// <param name="SkippedSteps">Steps whose update was skipped because of non-finite values.</param>
/// <param name="StopReason">Why training ended: "max steps reached", "early stopping", or a callback's reason.</param>
/// <param name="LastCheckpointPath">The newest checkpoint written, or null.</param>
public sealed record TrainResult(IReadOnlyList<MetricRecord> History, string? BestCheckpointPath, double BestMetric, long Steps,
    long SkippedSteps, string StopReason, string? LastCheckpointPath);
