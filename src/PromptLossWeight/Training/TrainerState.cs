using System.Text.Json;
using System.Text.Json.Serialization;
using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Training;

/// <summary>
/// The whole state of a training run in one place: where the loop is, what the last step did, the best evaluation so
/// far and the metric history. The trainer owns and updates it; users read it (<see cref="Trainer.State"/>, every
/// <see cref="TrainerCallback"/> method, <see cref="TrainResult.State"/>). A checkpoint stores it as
/// <c>trainer_state.json</c> (snake_case names, the history as an array) and a resumed run continues from it.
/// </summary>
public sealed class TrainerState
{
    /// <summary>The version of the <c>trainer_state.json</c> layout.</summary>
    public const int CurrentFormatVersion = 2;

    [JsonConstructor] internal TrainerState() { }

    /// <summary>The layout version this state was written with (<see cref="CurrentFormatVersion"/>).</summary>
    [JsonInclude] public int FormatVersion { get; internal set; } = CurrentFormatVersion;

    /// <summary>
    /// The run this state belongs to: a new id at a fresh start, kept on resume. Written into every checkpoint's manifest,
    /// so that retention and <c>ResumeFrom = "latest"</c> only consider the checkpoints of this run.
    /// </summary>
    [JsonInclude] public string RunId { get; internal set; } = "";

    /// <summary>
    /// <see cref="TrainerOptions.RunKey"/> of the run that started this state (null: none was given). A resume with
    /// another <see cref="TrainerOptions.RunKey"/> is refused.
    /// </summary>
    [JsonInclude] public string? RunKey { get; internal set; }

    /// <summary>The seed the data order derives from.</summary>
    [JsonInclude] public int Seed { get; internal set; }

    /// <summary>Optimizer steps completed.</summary>
    [JsonInclude] public long Step { get; internal set; }

    /// <summary>Total optimizer steps planned for the run.</summary>
    [JsonInclude] public long TotalSteps { get; internal set; }

    /// <summary>Epochs completed, as a fraction (steps completed / steps per epoch).</summary>
    [JsonInclude] public double Epoch { get; internal set; }

    /// <summary>The epoch the loop is in (0-based): with <see cref="MicroBatchInEpoch"/>, the position in the data.</summary>
    [JsonInclude] public int EpochIndex { get; internal set; }

    /// <summary>Index of the next micro-batch of the current epoch's plan.</summary>
    [JsonInclude] public int MicroBatchInEpoch { get; internal set; }

    /// <summary>The prompt loss weight of the last step (NaN before the first).</summary>
    [JsonInclude] public double PromptLossWeight { get; internal set; } = double.NaN;

    /// <summary>The learning rate of the last step (NaN before the first).</summary>
    [JsonInclude] public double LearningRate { get; internal set; } = double.NaN;

    /// <summary>The loss of the last step (NaN or infinity when it was skipped as non-finite; NaN before the first).</summary>
    [JsonInclude] public double StepLoss { get; internal set; } = double.NaN;

    /// <summary>True when the last step's update was skipped because of a non-finite loss or gradient.</summary>
    [JsonInclude] public bool StepSkipped { get; internal set; }

    /// <summary>Steps whose update was skipped because of non-finite values, in all.</summary>
    [JsonInclude] public long SkippedSteps { get; internal set; }

    /// <summary>Non-finite steps in a row up to the last step.</summary>
    [JsonInclude] public int ConsecutiveNonFiniteSteps { get; internal set; }

    /// <summary>Σ of the finite step losses since the last evaluation (their mean is the next history row's train_loss).</summary>
    [JsonInclude] public double TrainLossSum { get; internal set; }

    /// <summary>The number of finite step losses in <see cref="TrainLossSum"/>.</summary>
    [JsonInclude] public long TrainLossCount { get; internal set; }

    /// <summary>The best value of <c>MetricForBest</c> so far (NaN before the first evaluation).</summary>
    [JsonInclude] public double BestMetric { get; internal set; } = double.NaN;

    /// <summary>The step of the best evaluation, or null.</summary>
    [JsonInclude] public long? BestStep { get; internal set; }

    /// <summary>
    /// True in a single-process run and on rank 0 of a data-parallel one (the process that writes the output folder):
    /// callbacks that write files or print check it so that one process does. Not saved.
    /// </summary>
    [JsonIgnore] public bool IsWorldProcessZero { get; internal set; } = true;

    /// <summary>Every evaluation of the run so far (including those before a resume), oldest first.</summary>
    [JsonIgnore] public IReadOnlyList<MetricRecord> History => HistoryRows;

    [JsonInclude, JsonPropertyName("history")] internal List<MetricRecord> HistoryRows { get; set; } = [];

    /// <summary>AdamW's per-parameter step counters by parameter name, as of the last checkpoint.</summary>
    [JsonInclude] internal Dictionary<string, long> OptimizerSteps { get; set; } = new(StringComparer.Ordinal);

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
    };

    /// <summary>The state as <c>trainer_state.json</c> text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a state written by <see cref="ToJson"/>; <paramref name="source"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Not a trainer state, or one of another layout version.</exception>
    public static TrainerState FromJson(string json, string source = "trainer state")
    {
        TrainerState state;
        try
        {
            state = JsonSerializer.Deserialize<TrainerState>(json, Json) ?? throw new JsonException("empty document");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not a valid trainer state ({ex.Message}).", ex);
        }
        if (state.FormatVersion != CurrentFormatVersion)
            throw new InvalidDataException($"{source}: trainer state format {state.FormatVersion}, this version reads {CurrentFormatVersion}; " +
                "resume with the version that wrote it or start the run again.");
        return state;
    }
}
