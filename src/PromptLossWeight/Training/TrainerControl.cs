namespace PromptLossWeight.Training;

/// <summary>
/// What callbacks may ask of the loop (handed to every <see cref="TrainerCallback"/> method beside the
/// <see cref="TrainerState"/>): stop the run, or evaluate and save at the current step.
/// </summary>
public sealed class TrainerControl
{
    internal TrainerControl() { }

    /// <summary>True once a stop was requested (by a callback or early stopping).</summary>
    public bool ShouldStop => StopReason is not null;

    /// <summary>Why the run stops early, or null.</summary>
    public string? StopReason { get; private set; }

    /// <summary>True when an evaluation (and checkpoint) was requested for the current step.</summary>
    public bool ShouldEvaluate { get; private set; }

    /// <summary>
    /// Asks the trainer to stop after the current step. If an evaluation is due at this step it still runs and its
    /// checkpoint is still saved; otherwise the trainer evaluates and saves once more before returning. The first
    /// reason given is kept.
    /// </summary>
    public void RequestStop(string reason) => StopReason ??= string.IsNullOrWhiteSpace(reason) ? "stop requested" : reason;

    /// <summary>
    /// Asks the trainer to evaluate and save a checkpoint after the current step, whether or not one is due
    /// (from <see cref="TrainerCallback.OnStepEnd"/>; the request is cleared once it is served).
    /// </summary>
    public void RequestEvaluation() => ShouldEvaluate = true;

    internal void EvaluationServed() => ShouldEvaluate = false;
}
