namespace PromptLossWeight.Training;

/// <summary>How the learning rate decays after warmup.</summary>
public enum LearningRateScheduleKind
{
    /// <summary>The peak learning rate after warmup.</summary>
    Constant,
    /// <summary>Linear decay from the peak to 0 at the last step.</summary>
    Linear,
    /// <summary>Half-cosine decay from the peak to 0 at the last step.</summary>
    Cosine,
}

/// <summary>
/// The learning rate as a plain function of the step (no hidden state, so a resumed run uses exactly the same rates).
/// </summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// The learning rate of optimizer step <paramref name="step"/> (0-based): linear warmup
    /// <c>peak·(step+1)/warmup</c> for the first <paramref name="warmupSteps"/> steps, then the chosen decay with
    /// progress <c>(step − warmup)/(total − warmup)</c>.
    /// </summary>
    public static double At(long step, long totalSteps, double peak, long warmupSteps, LearningRateScheduleKind kind)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        double progress = Math.Clamp((double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps), 0, 1);
        return kind switch
        {
            LearningRateScheduleKind.Constant => peak,
            LearningRateScheduleKind.Linear => peak * (1 - progress),
            LearningRateScheduleKind.Cosine => peak * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown learning-rate schedule."),
        };
    }
}
