using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>
/// Observes a training run without subclassing the trainer: log, plot, or steer it through the
/// <see cref="TrainerControl"/>. Override only what you need; every method runs on the training thread, between
/// optimizer steps, with the run's <see cref="TrainerState"/> (read-only).
/// </summary>
public abstract class TrainerCallback
{
    /// <summary>After every optimizer step (also a skipped, non-finite one).</summary>
    public virtual void OnStepEnd(TrainerState state, TrainerControl control) { }

    /// <summary>After an evaluation, with its history row (already in <see cref="TrainerState.History"/>; before the checkpoint is saved).</summary>
    public virtual void OnEvaluate(TrainerState state, TrainerControl control, MetricRecord record) { }

    /// <summary>After a checkpoint was written and verified.</summary>
    public virtual void OnSave(TrainerState state, TrainerControl control, string checkpointPath) { }

    /// <summary>When training ends normally (not when it throws).</summary>
    public virtual void OnTrainEnd(TrainerState state, TrainerControl control) { }
}
