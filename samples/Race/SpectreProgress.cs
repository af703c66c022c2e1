using System.Globalization;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race.Reporting;
using Spectre.Console;

namespace PromptLossWeight.Samples.Race;

/// <summary>Live console progress: one bar per PLW run, its description showing the latest validation metrics.</summary>
public sealed class SpectreProgress(ProgressContext context) : IRaceProgress
{
    private readonly Dictionary<double, ProgressTask> _tasks = [];
    private readonly Lock _lock = new();

    /// <inheritdoc/>
    public void Message(string text)
    {
        lock (_lock) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
    }

    /// <inheritdoc/>
    public void RunStarted(double plw, long totalSteps)
    {
        lock (_lock) _tasks[plw] = context.AddTask(Label(plw, "starting"), maxValue: totalSteps);
    }

    /// <inheritdoc/>
    public void StepEnded(double plw, long step, double loss)
    {
        lock (_lock)
            if (_tasks.TryGetValue(plw, out var task)) task.Value = step;
    }

    /// <inheritdoc/>
    public void Evaluated(double plw, MetricRecord record)
    {
        lock (_lock) Describe(plw, record);
    }

    private void Describe(double plw, MetricRecord record)
    {
        if (!_tasks.TryGetValue(plw, out var task)) return;
        task.Description = Label(plw, string.Create(CultureInfo.InvariantCulture,
            $"ep {record.Epoch:F1} completion {record.Get(MetricNames.CompletionLoss):F3} full {record.Get(MetricNames.FullLoss):F3} acc {record.Get(MetricNames.Accuracy):F3}"));
    }

    /// <inheritdoc/>
    public void RunFinished(double plw, RunSummary summary)
    {
        lock (_lock) Finish(plw, summary);
    }

    private void Finish(double plw, RunSummary summary)
    {
        if (!_tasks.TryGetValue(plw, out var task)) return;
        task.Value = task.MaxValue;
        task.Description = Label(plw, string.Create(CultureInfo.InvariantCulture,
            $"best acc {summary.BestAccuracy.Value:F3}, best completion loss {summary.BestCompletionLoss.Value:F3}"));
        task.StopTask();
    }

    private ProgressTask? _pretraining;

    /// <inheritdoc/>
    public void PretrainingStarted(long totalSteps)
    {
        lock (_lock) _pretraining = context.AddTask(Markup.Escape("pretraining (reading corpus)"), maxValue: totalSteps);
    }

    /// <inheritdoc/>
    public void PretrainingStep(long step, double loss)
    {
        lock (_lock)
            if (_pretraining is not null) _pretraining.Value = step;
    }

    /// <inheritdoc/>
    public void PretrainingEvaluated(MetricRecord record)
    {
        lock (_lock)
            if (_pretraining is not null)
                _pretraining.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"pretraining: step {record.Step} retrieval acc {record.Get(MetricNames.Accuracy):F3} answer loss {record.Get(MetricNames.CompletionLoss):F3}"));
    }

    /// <inheritdoc/>
    public void PretrainingFinished(IReadOnlyList<MetricRecord> history)
    {
        lock (_lock)
        {
            if (_pretraining is null) return;
            _pretraining.Value = _pretraining.MaxValue;
            _pretraining.StopTask();
        }
    }

    private static string Label(double plw, string text) =>
        Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"PLW {plw,-5:G4} {text}"));
}
