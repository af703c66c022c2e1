namespace PromptLossWeight.Training;

/// <summary>What the trainer does when a step's loss or gradients contain NaN or infinity.</summary>
public enum NonFinitePolicy
{
    /// <summary>
    /// Skip the update (parameters and optimizer state stay as they were), count it, and stop with a
    /// <see cref="NonFiniteTrainingException"/> after <c>TrainerOptions.MaxConsecutiveNonFiniteSteps</c> in a row.
    /// </summary>
    Skip,
    /// <summary>Stop at the first non-finite step with a <see cref="NonFiniteTrainingException"/>.</summary>
    Stop,
}

/// <summary>Training stopped because losses or gradients were not finite.</summary>
public sealed class NonFiniteTrainingException : Exception
{
    /// <summary>Creates the exception for optimizer step <paramref name="step"/>.</summary>
    public NonFiniteTrainingException(long step, string message) : base(message) => Step = step;

    /// <summary>The optimizer step (0-based) at which training stopped.</summary>
    public long Step { get; }
}
