using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race;
using PromptLossWeight.Samples.Race.Reporting;

namespace Race.Tests.Support;

/// <summary>An <see cref="IRaceProgress"/> that keeps the messages and counts the pretraining steps.</summary>
internal sealed class RecordingProgress : IRaceProgress
{
    private readonly object _gate = new();

    public List<string> Messages { get; } = [];

    public long PretrainingSteps { get; private set; }

    public void Message(string text)
    {
        lock (_gate) Messages.Add(text);
    }

    public void RunStarted(double plw, long totalSteps) { }

    public void StepEnded(double plw, long step, double loss) { }

    public void Evaluated(double plw, MetricRecord record) { }

    public void RunFinished(double plw, RunSummary summary) { }

    public void PretrainingStarted(long totalSteps) { }

    public void PretrainingStep(long step, double loss) => PretrainingSteps++;

    public void PretrainingEvaluated(MetricRecord record) { }

    public void PretrainingFinished(IReadOnlyList<MetricRecord> history) { }
}
