namespace PromptLossWeight.Evaluation;

/// <summary>One row of the metric history: the state of training at an evaluation and the metrics it produced.</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="Epoch">Epochs completed, as a fraction (step / steps per epoch).</param>
/// <param name="PromptLossWeight">The prompt loss weight used at this step.</param>
/// <param name="LearningRate">The learning rate used at this step.</param>
/// <param name="TrainLoss">Mean training loss of the steps since the previous evaluation (NaN when none).</param>
/// <param name="Metrics">Evaluation metrics by name (see <see cref="MetricNames"/>).</param>
public sealed record MetricRecord(long Step, double Epoch, double PromptLossWeight, double LearningRate, double TrainLoss,
    IReadOnlyDictionary<string, double> Metrics)
{
    /// <summary>The value of metric <paramref name="name"/>, or NaN when it was not computed.</summary>
    public double Get(string name) => Metrics.TryGetValue(name, out double v) ? v : double.NaN;

    /// <inheritdoc />
    public bool Equals(MetricRecord? other) =>
        other is not null && Step == other.Step && Same(Epoch, other.Epoch) && Same(PromptLossWeight, other.PromptLossWeight)
        && Same(LearningRate, other.LearningRate) && Same(TrainLoss, other.TrainLoss)
        && Metrics.Count == other.Metrics.Count
        && Metrics.All(kv => other.Metrics.TryGetValue(kv.Key, out double v) && Same(kv.Value, v));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Step, Epoch, PromptLossWeight, LearningRate, Metrics.Count);

    private static bool Same(double a, double b) => a.Equals(b); // NaN equals NaN here, exact otherwise
}
