using System.Text.Json;
using System.Text.Json.Serialization;

namespace PromptLossWeight.Training;

/// <summary>
/// The loop's bookkeeping that a checkpoint must carry besides tensors, serialised as <c>trainer_state.json</c>.
/// </summary>
internal sealed class TrainerState
{
    public int FormatVersion { get; set; } = 1;

    /// <summary>Optimizer steps completed.</summary>
    public long Step { get; set; }

    /// <summary>Current epoch (0-based).</summary>
    public int Epoch { get; set; }

    /// <summary>Index of the next micro-batch of the current epoch's plan.</summary>
    public int MicroBatchInEpoch { get; set; }

    /// <summary>The seed the data order derives from.</summary>
    public int Seed { get; set; }

    public double TrainLossSum { get; set; }
    public long TrainLossCount { get; set; }
    public double BestMetric { get; set; } = double.NaN;
    public long? BestStep { get; set; }
    public int ConsecutiveNonFiniteSteps { get; set; }
    public long SkippedSteps { get; set; }
    public double PromptLossWeight { get; set; } = double.NaN;
    public double LearningRate { get; set; } = double.NaN;

    /// <summary>AdamW's per-parameter step counters by parameter name.</summary>
    public Dictionary<string, long> OptimizerSteps { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The metric history so far, in the JSON Lines form of <c>MetricHistory.ToJsonLines</c>.</summary>
    public string History { get; set; } = "";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };
}
