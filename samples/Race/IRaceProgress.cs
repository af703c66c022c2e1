using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race.Reporting;

namespace PromptLossWeight.Samples.Race;

/// <summary>Receives the progress of a sweep (the console shows it with Spectre.Console; tests ignore it).</summary>
public interface IRaceProgress
{
    /// <summary>A line of information (data loaded, model built, …).</summary>
    void Message(string text);

    /// <summary>A PLW run starts and will take <paramref name="totalSteps"/> optimizer steps.</summary>
    void RunStarted(double plw, long totalSteps);

    /// <summary>An optimizer step finished with training loss <paramref name="loss"/>.</summary>
    void StepEnded(double plw, long step, double loss);

    /// <summary>An evaluation produced <paramref name="record"/>.</summary>
    void Evaluated(double plw, MetricRecord record);

    /// <summary>A run finished.</summary>
    void RunFinished(double plw, RunSummary summary);

    /// <summary>The pretraining starts and will take <paramref name="totalSteps"/> steps (not called when the cached model is reused).</summary>
    void PretrainingStarted(long totalSteps);

    /// <summary>A pretraining step finished with training loss <paramref name="loss"/>.</summary>
    void PretrainingStep(long step, double loss);

    /// <summary>A pretraining evaluation (its accuracy is free-form retrieval accuracy) produced <paramref name="record"/>.</summary>
    void PretrainingEvaluated(MetricRecord record);

    /// <summary>The pretraining finished.</summary>
    void PretrainingFinished(IReadOnlyList<MetricRecord> history);
}

/// <summary>Progress that goes nowhere.</summary>
public sealed class SilentProgress : IRaceProgress
{
    /// <inheritdoc/>
    public void Message(string text) { }

    /// <inheritdoc/>
    public void RunStarted(double plw, long totalSteps) { }

    /// <inheritdoc/>
    public void StepEnded(double plw, long step, double loss) { }

    /// <inheritdoc/>
    public void Evaluated(double plw, MetricRecord record) { }

    /// <inheritdoc/>
    public void RunFinished(double plw, RunSummary summary) { }

    /// <inheritdoc/>
    public void PretrainingStarted(long totalSteps) { }

    /// <inheritdoc/>
    public void PretrainingStep(long step, double loss) { }

    /// <inheritdoc/>
    public void PretrainingEvaluated(MetricRecord record) { }

    /// <inheritdoc/>
    public void PretrainingFinished(IReadOnlyList<MetricRecord> history) { }
}
