using System.Globalization;
using System.Text;
using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Samples.Race.Reporting;

/// <summary>A metric value and where in training it was reached.</summary>
/// <param name="Value">The metric value.</param>
/// <param name="Epoch">The epoch (fractional) of the evaluation.</param>
/// <param name="Step">The optimizer step of the evaluation.</param>
public sealed record MetricAt(double Value, double Epoch, long Step)
{
    /// <summary>"0.8125 (epoch 2.5, step 320)".</summary>
    public override string ToString() => double.IsNaN(Value)
        ? "n/a"
        : string.Create(CultureInfo.InvariantCulture, $"{Value:F4} (epoch {Epoch:0.##}, step {Step})");
}

/// <summary>
/// The result of one PLW run as the article reports it: best validation completion loss and best accuracy (with
/// when each was reached), and the accuracy a user would get by stopping at the minimum of the full-sequence loss
/// versus at the minimum of the completion loss.
/// </summary>
/// <param name="PromptLossWeight">The PLW of the run.</param>
/// <param name="BestCompletionLoss">Lowest completion loss.</param>
/// <param name="BestAccuracy">Highest accuracy.</param>
/// <param name="AccuracyAtMinFullLoss">Accuracy at the evaluation with the lowest full-sequence loss.</param>
/// <param name="AccuracyAtMinCompletionLoss">Accuracy at the evaluation with the lowest completion loss.</param>
/// <param name="FinalAccuracy">Accuracy at the last evaluation.</param>
/// <param name="Seconds">Wall-clock time of the run.</param>
/// <param name="FirstStepAtAccuracy">The first evaluated step with accuracy of at least <see cref="RaceReport.ReadingAccuracy"/>, or null.</param>
/// <param name="AccuracySteps">Every evaluation's (step, accuracy), in order: what convergence speed is measured on.</param>
public sealed record RunSummary(double PromptLossWeight, MetricAt BestCompletionLoss, MetricAt BestAccuracy,
    MetricAt AccuracyAtMinFullLoss, MetricAt AccuracyAtMinCompletionLoss, MetricAt FinalAccuracy, double Seconds, long? FirstStepAtAccuracy = null,
    IReadOnlyList<(long Step, double Accuracy)>? AccuracySteps = null)
{
    /// <summary>The first evaluated step whose accuracy is at least <paramref name="target"/>, or null when none is.</summary>
    public long? FirstStepReaching(double target) =>
        (AccuracySteps ?? []).Where(e => e.Accuracy >= target).Select(e => (long?)e.Step).FirstOrDefault();

    /// <summary>Summarises one run's history (at least one evaluation with finite losses).</summary>
    public static RunSummary From(double plw, IReadOnlyList<MetricRecord> history, double seconds)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (history.Count == 0) throw new ArgumentException($"The run with PLW {plw} has no evaluations.", nameof(history));
        MetricRecord minCompletion = ArgMin(history, MetricNames.CompletionLoss);
        MetricRecord minFull = ArgMin(history, MetricNames.FullLoss);
        MetricRecord maxAccuracy = history.Where(r => !double.IsNaN(r.Get(MetricNames.Accuracy)))
            .OrderByDescending(r => r.Get(MetricNames.Accuracy)).ThenBy(r => r.Step).FirstOrDefault() ?? history[^1];
        return new RunSummary(plw,
            At(minCompletion, MetricNames.CompletionLoss), At(maxAccuracy, MetricNames.Accuracy),
            At(minFull, MetricNames.Accuracy), At(minCompletion, MetricNames.Accuracy), At(history[^1], MetricNames.Accuracy), seconds,
            history.FirstOrDefault(r => r.Get(MetricNames.Accuracy) >= RaceReport.ReadingAccuracy)?.Step,
            history.Select(r => (r.Step, r.Get(MetricNames.Accuracy))).ToList());
    }

    private static MetricRecord ArgMin(IReadOnlyList<MetricRecord> history, string metric) =>
        history.Where(r => double.IsFinite(r.Get(metric))).OrderBy(r => r.Get(metric)).ThenBy(r => r.Step).FirstOrDefault() ?? history[^1];

    private static MetricAt At(MetricRecord r, string metric) => new(r.Get(metric), r.Epoch, r.Step);
}

/// <summary>The summaries of a PLW sweep and their markdown table.</summary>
public static class SweepSummary
{
    /// <summary>The share of the sweep's best accuracy that convergence speed is measured to (the article's 90 %).</summary>
    public const double ConvergenceShare = 0.9;

    /// <summary>The accuracy every run is timed to: <see cref="ConvergenceShare"/> of the best accuracy of any run of the sweep.</summary>
    public static double ConvergenceTarget(IReadOnlyList<RunSummary> runs) =>
        (runs ?? throw new ArgumentNullException(nameof(runs))).Count == 0 ? double.NaN : ConvergenceShare * runs.Max(r => r.BestAccuracy.Value);

    /// <summary>Column headers of the summary table.</summary>
    public static IReadOnlyList<string> Headers { get; } =
        ["PLW", "best completion loss", "best accuracy", "accuracy at min full loss", "accuracy at min completion loss", "final accuracy", "time"];

    /// <summary>The cells of one row, formatted; <paramref name="compact"/> shows "value @ step" (for narrow consoles).</summary>
    public static IReadOnlyList<string> Cells(RunSummary s, bool compact = false)
    {
        string Format(MetricAt m) => compact && !double.IsNaN(m.Value)
            ? string.Create(CultureInfo.InvariantCulture, $"{m.Value:F3} @ {m.Step}")
            : m.ToString();
        return
        [
            s.PromptLossWeight.ToString("G4", CultureInfo.InvariantCulture), Format(s.BestCompletionLoss), Format(s.BestAccuracy),
            Format(s.AccuracyAtMinFullLoss), Format(s.AccuracyAtMinCompletionLoss), Format(s.FinalAccuracy),
            TimeSpan.FromSeconds(Math.Round(s.Seconds)).ToString(@"m\:ss", CultureInfo.InvariantCulture),
        ];
    }

    /// <summary>The summary as a markdown table, one row per PLW.</summary>
    public static string ToMarkdown(IEnumerable<RunSummary> runs)
    {
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", Headers).Append(" |\n");
        sb.Append('|').AppendJoin("", Headers.Select(_ => "---|")).Append('\n');
        foreach (RunSummary s in runs)
            sb.Append("| ").AppendJoin(" | ", Cells(s)).Append(" |\n");
        return sb.ToString();
    }
}
