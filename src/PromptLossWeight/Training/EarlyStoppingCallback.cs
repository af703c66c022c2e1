using System.Globalization;
using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>
/// Stops a run after <see cref="Patience"/> evaluations in a row without an improvement of <see cref="Metric"/> by more
/// than <see cref="Threshold"/>. It decides from the metric history alone, so a resumed run stops exactly where an
/// uninterrupted one would. <c>TrainerOptions.EarlyStoppingPatience</c> adds one for <c>MetricForBest</c>.
/// </summary>
public sealed class EarlyStoppingCallback : TrainerCallback
{
    /// <summary>Creates the callback.</summary>
    /// <param name="metric">The metric to watch (a history column, e.g. completion_loss).</param>
    /// <param name="patience">Evaluations without improvement before stopping; at least 1.</param>
    /// <param name="greaterIsBetter">True for metrics such as accuracy; false for losses.</param>
    /// <param name="threshold">An improvement must exceed this amount (≥ 0).</param>
    public EarlyStoppingCallback(string metric, int patience, bool greaterIsBetter = false, double threshold = 0)
    {
        if (string.IsNullOrWhiteSpace(metric)) throw new ArgumentException("The metric to watch must be named, e.g. completion_loss.", nameof(metric));
        if (patience < 1) throw new ArgumentOutOfRangeException(nameof(patience), patience, "The patience must be at least 1 evaluation.");
        if (!double.IsFinite(threshold) || threshold < 0)
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be a finite number >= 0.");
        (Metric, Patience, GreaterIsBetter, Threshold) = (metric, patience, greaterIsBetter, threshold);
    }

    /// <summary>The metric watched.</summary>
    public string Metric { get; }

    /// <summary>Evaluations without improvement before the run stops.</summary>
    public int Patience { get; }

    /// <summary>True when a larger value is better.</summary>
    public bool GreaterIsBetter { get; }

    /// <summary>The margin an improvement must exceed.</summary>
    public double Threshold { get; }

    /// <inheritdoc />
    public override void OnEvaluate(TrainerState state, TrainerControl control, MetricRecord record)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(record);
        if (record.Metrics.Count == 0) return; // no evaluation data: nothing to judge
        if (!record.Metrics.ContainsKey(Metric))
            throw new InvalidOperationException(
                $"EarlyStoppingCallback watches '{Metric}', but the evaluation computed only: {string.Join(", ", record.Metrics.Keys)}.");
        double best = double.NaN;
        long bestStep = 0;
        int without = 0;
        foreach (MetricRecord r in state.History)
        {
            double value = r.Get(Metric);
            if (Improves(value, best, GreaterIsBetter, Threshold))
            {
                (best, bestStep, without) = (value, r.Step, 0);
            }
            else
            {
                without++;
            }
        }
        if (without >= Patience)
            control.RequestStop(string.Create(CultureInfo.InvariantCulture,
                $"early stopping: {Metric} did not improve for {Patience} evaluations (best {best:G6} at step {bestStep})"));
    }

    /// <summary>True when <paramref name="value"/> beats <paramref name="best"/> by more than the threshold (any number beats NaN).</summary>
    internal static bool Improves(double value, double best, bool greaterIsBetter, double threshold) =>
        !double.IsNaN(value) && (double.IsNaN(best) || (greaterIsBetter ? value > best + threshold : value < best - threshold));
}
