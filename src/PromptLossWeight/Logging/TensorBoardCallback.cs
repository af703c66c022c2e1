using PromptLossWeight.Evaluation;
using PromptLossWeight.Training;

namespace PromptLossWeight.Logging;

/// <summary>
/// Logs a training run as TensorBoard scalars: at every evaluation, at the record's step,
/// <c>train/loss</c> (mean since the previous evaluation), <c>train/learning_rate</c>,
/// <c>train/prompt_loss_weight</c> and <c>eval/&lt;metric&gt;</c> for each metric, on disk at once; at
/// step ends <c>train/step_loss</c> (every <see cref="StepLossInterval"/> steps). Add it to <see cref="Trainer.Callbacks"/>;
/// in a data-parallel run only rank 0 writes.
/// </summary>
/// <remarks>
/// The event file is created at the first event; <see cref="OnTrainEnd"/> closes it, so a later run with the same
/// callback (e.g. a resumed one) writes a new file into the same folder, which TensorBoard shows as one run.
/// </remarks>
public sealed class TensorBoardCallback : TrainerCallback, IDisposable
{
    /// <summary>Tag of the mean training loss since the previous evaluation.</summary>
    public const string TrainLossTag = "train/loss";

    /// <summary>Tag of the learning rate at an evaluation.</summary>
    public const string LearningRateTag = "train/learning_rate";

    /// <summary>Tag of the prompt loss weight at an evaluation.</summary>
    public const string PromptLossWeightTag = "train/prompt_loss_weight";

    /// <summary>Tag of the loss of single optimizer steps.</summary>
    public const string StepLossTag = "train/step_loss";

    /// <summary>Prefix of the evaluation metrics' tags (followed by the metric name).</summary>
    public const string EvalPrefix = "eval/";

    private TensorBoardWriter? _writer;

    /// <summary>Creates the callback; nothing is written before the first step.</summary>
    /// <param name="directory">The run folder for the event files (created if missing).</param>
    /// <param name="stepLossInterval">Log the step loss every this many steps; 0 turns step losses off.</param>
    public TensorBoardCallback(string directory, int stepLossInterval = 1)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException("The TensorBoard directory must be a folder path.", nameof(directory));
        ArgumentOutOfRangeException.ThrowIfNegative(stepLossInterval);
        Directory = directory;
        StepLossInterval = stepLossInterval;
    }

    /// <summary>The run folder the event files go to.</summary>
    public string Directory { get; }

    /// <summary>Steps between two logged step losses (0: none).</summary>
    public int StepLossInterval { get; }

    /// <summary>The event file written to now or last; null before the first event.</summary>
    public string? FilePath { get; private set; }

    /// <summary>
    /// Logs the step loss (NaN or infinity for a skipped non-finite step) every <see cref="StepLossInterval"/> steps.
    /// </summary>
    public override void OnStepEnd(TrainerState state, TrainerControl control)
    {
        if (state.IsWorldProcessZero && StepLossInterval > 0 && state.Step % StepLossInterval == 0)
            Writer().AddScalar(StepLossTag, state.StepLoss, state.Step);
    }

    /// <summary>Logs the record's training state and metrics at its step.</summary>
    public override void OnEvaluate(TrainerState state, TrainerControl control, MetricRecord record)
    {
        if (!state.IsWorldProcessZero) return; // in a data-parallel run, rank 0 writes (every rank has the same values)
        var scalars = new List<KeyValuePair<string, double>>
        {
            new(TrainLossTag, record.TrainLoss),
            new(LearningRateTag, record.LearningRate),
            new(PromptLossWeightTag, record.PromptLossWeight),
        };
        foreach (var (name, value) in record.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            scalars.Add(new(EvalPrefix + name, value));
        Writer().AddScalars(record.Step, scalars);
    }

    /// <summary>Closes the event file.</summary>
    public override void OnTrainEnd(TrainerState state, TrainerControl control) => Dispose();

    /// <summary>Closes the event file (for runs that end with an exception).</summary>
    public void Dispose()
    {
        _writer?.Dispose();
        _writer = null;
    }

    private TensorBoardWriter Writer()
    {
        if (_writer is null)
        {
            _writer = new TensorBoardWriter(Directory);
            FilePath = _writer.FilePath;
        }
        return _writer;
    }
}
