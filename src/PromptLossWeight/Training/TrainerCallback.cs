using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>
/// Observes a training run without subclassing the trainer: log, plot, or stop it. Override only what you need;
/// every method runs on the training thread, between optimizer steps.
/// </summary>
public abstract class TrainerCallback
{
    /// <summary>After every optimizer step (also a skipped, non-finite one).</summary>
    public virtual void OnStepEnd(TrainerContext context) { }

    /// <summary>After an evaluation, with its history row (before the checkpoint is saved).</summary>
    public virtual void OnEvaluate(TrainerContext context, MetricRecord record) { }

    /// <summary>After a checkpoint was written and verified.</summary>
    public virtual void OnSave(TrainerContext context, string checkpointPath) { }

    /// <summary>When training ends normally (not when it throws).</summary>
    public virtual void OnTrainEnd(TrainerContext context) { }
}

/// <summary>The state of a run as callbacks see it, and the way to ask it to stop.</summary>
public sealed class TrainerContext
{
    internal TrainerContext() { }

    /// <summary>Optimizer steps completed.</summary>
    public long Step { get; internal set; }

    /// <summary>Total optimizer steps planned.</summary>
    public long TotalSteps { get; internal set; }

    /// <summary>Epochs completed, as a fraction.</summary>
    public double Epoch { get; internal set; }

    /// <summary>The PLW of the last step.</summary>
    public double PromptLossWeight { get; internal set; }

    /// <summary>The learning rate of the last step.</summary>
    public double LearningRate { get; internal set; }

    /// <summary>The loss of the last step (NaN or infinity when it was skipped as non-finite).</summary>
    public double StepLoss { get; internal set; }

    /// <summary>True when the last step's update was skipped because of a non-finite loss or gradient.</summary>
    public bool StepSkipped { get; internal set; }

    /// <summary>Non-finite steps skipped so far.</summary>
    public long SkippedSteps { get; internal set; }

    /// <summary>The metric history so far.</summary>
    public IReadOnlyList<MetricRecord> History { get; internal set; } = [];

    /// <summary>True once a stop was requested (by a callback or early stopping).</summary>
    public bool ShouldStop => StopReason is not null;

    /// <summary>Why the run stops early, or null.</summary>
    public string? StopReason { get; private set; }

    /// <summary>
    /// Asks the trainer to stop after the current step. If an evaluation is due at this step it still runs and its
    /// checkpoint is still saved; otherwise the trainer evaluates and saves once more before returning.
    /// </summary>
    public void RequestStop(string reason) => StopReason ??= string.IsNullOrWhiteSpace(reason) ? "stop requested" : reason;
}
