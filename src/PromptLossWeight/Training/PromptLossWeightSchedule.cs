using PromptLossWeight.Evaluation;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Training;

/// <summary>
/// The prompt loss weight as a function of training progress. Implement it for your own schedule, for example one
/// that lowers the PLW once the completion loss stops improving (the history is passed in for that).
/// </summary>
/// <remarks>
/// The trainer calls <see cref="ValueAt"/> once per optimizer step, before the step's loss is computed. Return a
/// finite value ≥ 0; anything else stops training with an error naming the step. A schedule must be a pure function
/// of its arguments so that a resumed run continues exactly.
/// </remarks>
public interface IPromptLossWeightSchedule
{
    /// <summary>The PLW for optimizer step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    /// <param name="step">Steps completed before this one.</param>
    /// <param name="totalSteps">Total optimizer steps of the run.</param>
    /// <param name="history">Evaluation results so far (oldest first).</param>
    double ValueAt(long step, long totalSteps, IReadOnlyList<MetricRecord> history);
}

/// <summary>Factory methods for the built-in PLW schedules.</summary>
public static class PromptLossWeightSchedule
{
    /// <summary>The same PLW at every step.</summary>
    public static IPromptLossWeightSchedule Constant(double value) => new ConstantPromptLossWeight(value);

    /// <summary>From <paramref name="start"/> to <paramref name="end"/> in a straight line over <paramref name="steps"/> steps, then <paramref name="end"/>.</summary>
    public static IPromptLossWeightSchedule Linear(double start, double end, long steps) => new LinearPromptLossWeight(start, end, steps);

    /// <summary>From <paramref name="start"/> to <paramref name="end"/> along half a cosine over <paramref name="steps"/> steps, then <paramref name="end"/>.</summary>
    public static IPromptLossWeightSchedule Cosine(double start, double end, long steps) => new CosinePromptLossWeight(start, end, steps);


    internal static void CheckSteps(long steps)
    {
        if (steps <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"A PLW schedule needs a positive number of steps; got {steps}.");
    }
}

/// <summary>A constant prompt loss weight.</summary>
public sealed record ConstantPromptLossWeight : IPromptLossWeightSchedule
{
    /// <summary>Creates the schedule; <paramref name="value"/> must be finite and ≥ 0.</summary>
    public ConstantPromptLossWeight(double value)
    {
        RoleWeights.Check(value, nameof(value));
        Value = value;
    }

    /// <summary>The PLW.</summary>
    public double Value { get; }

    /// <inheritdoc />
    public double ValueAt(long step, long totalSteps, IReadOnlyList<MetricRecord> history) => Value;
}

/// <summary>
/// A PLW that moves from <see cref="Start"/> to <see cref="End"/> over <see cref="Steps"/> steps and then stays at
/// <see cref="End"/>; subclasses give the shape of the ramp.
/// </summary>
public abstract record RampPromptLossWeight : IPromptLossWeightSchedule
{
    /// <summary>Creates the ramp; both weights finite and ≥ 0, <paramref name="steps"/> &gt; 0.</summary>
    protected RampPromptLossWeight(double start, double end, long steps)
    {
        RoleWeights.Check(start, nameof(start));
        RoleWeights.Check(end, nameof(end));
        PromptLossWeightSchedule.CheckSteps(steps);
        (Start, End, Steps) = (start, end, steps);
    }

    /// <summary>PLW at step 0.</summary>
    public double Start { get; }

    /// <summary>PLW from step <see cref="Steps"/> on.</summary>
    public double End { get; }

    /// <summary>Length of the ramp.</summary>
    public long Steps { get; }

    /// <inheritdoc />
    public double ValueAt(long step, long totalSteps, IReadOnlyList<MetricRecord> history) =>
        Start + (End - Start) * Progress(Math.Clamp((double)step / Steps, 0, 1));

    /// <summary>How far along the ramp the PLW is (0 to 1) at the fraction <paramref name="t"/> of its steps.</summary>
    protected abstract double Progress(double t);
}

/// <summary>A PLW that moves linearly from <c>Start</c> to <c>End</c> over <c>Steps</c> steps.</summary>
public sealed record LinearPromptLossWeight : RampPromptLossWeight
{
    /// <summary>Creates the schedule; both weights finite and ≥ 0, <paramref name="steps"/> &gt; 0.</summary>
    public LinearPromptLossWeight(double start, double end, long steps) : base(start, end, steps) { }

    /// <inheritdoc />
    protected override double Progress(double t) => t;
}

/// <summary>A PLW that moves from <c>Start</c> to <c>End</c> along half a cosine over <c>Steps</c> steps.</summary>
public sealed record CosinePromptLossWeight : RampPromptLossWeight
{
    /// <summary>Creates the schedule; both weights finite and ≥ 0, <paramref name="steps"/> &gt; 0.</summary>
    public CosinePromptLossWeight(double start, double end, long steps) : base(start, end, steps) { }

    /// <inheritdoc />
    protected override double Progress(double t) => 0.5 * (1 - Math.Cos(Math.PI * t));
}
