using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Evaluation;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

/// <summary>
/// Everything that configures a <see cref="Trainer"/> run. <see cref="Validate"/> (called by the trainer's
/// constructor) rejects inconsistent values with a message naming the option.
/// </summary>
public sealed record TrainerOptions
{
    /// <summary>Folder for checkpoints and the metric history (created if missing). Required.</summary>
    public string OutputDirectory { get; init; } = "";

    /// <summary>Constant prompt loss weight (weight of prompt tokens; completion tokens weigh 1). Default 1 (plain full-sequence loss).</summary>
    public double PromptLossWeight { get; init; } = 1.0;

    /// <summary>
    /// λc, the weight of completion (assistant) tokens beside the PLW λp = <see cref="PromptLossWeight"/> (or its
    /// schedule). Default 1. Under <see cref="LossNormalization.WeightSum"/> only the ratio λp/λc matters; under
    /// <see cref="LossNormalization.NonZeroTokens"/> (Weighted Instruction Tuning) both do. Not used with
    /// <see cref="RoleWeights"/>, which give the assistant weight themselves.
    /// </summary>
    public double CompletionWeight { get; init; } = 1.0;

    /// <summary>A PLW schedule; when set it replaces <see cref="PromptLossWeight"/>.</summary>
    public IPromptLossWeightSchedule? PromptLossWeightSchedule { get; init; }

    /// <summary>
    /// Fixed per-role weights for chats (for example system 0, user 0.1, assistant 1). When set, the loss weights come
    /// from these and neither <see cref="PromptLossWeight"/> nor a schedule is used; the history's plw column shows
    /// the user weight. Override <c>Trainer.CurrentRoleWeights</c> for role weights that follow a schedule.
    /// </summary>
    public RoleWeights? RoleWeights { get; init; }

    /// <summary>
    /// The weighted loss. Default: <see cref="ChunkedWeightedCrossEntropy"/>, which works from hidden states chunk by
    /// chunk (never building [B, N, V] logits) when the model is an <c>IHiddenStateLanguageModel</c>, and from full
    /// logits otherwise. Set <see cref="LogitsWeightedLoss"/> to always use full logits.
    /// </summary>
    public IWeightedLoss Loss { get; init; } = new ChunkedWeightedCrossEntropy();

    /// <summary>
    /// When set, training examples are packed (best-fit decreasing) into rows of this many tokens, each document
    /// isolated by the attention mask and its own position ids; <see cref="BatchSize"/> then counts rows. Null
    /// (the default) pads each batch to its longest example. Evaluation always uses padded batches.
    /// </summary>
    public int? PackedRowLength { get; init; }

    /// <summary>Peak learning rate of AdamW.</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary>AdamW decoupled weight decay, applied to parameters with two or more dimensions (not to biases and norms).</summary>
    public double WeightDecay { get; init; }

    /// <summary>AdamW β₁.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β₂.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>AdamW ε.</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>Steps of linear learning-rate warmup.</summary>
    public long WarmupSteps { get; init; }

    /// <summary>Decay after warmup.</summary>
    public LearningRateScheduleKind LearningRateSchedule { get; init; } = LearningRateScheduleKind.Linear;

    /// <summary>Number of passes over the training data (ignored when <see cref="MaxSteps"/> is set).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Total optimizer steps; when set it overrides <see cref="Epochs"/>.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>Sequences per micro-batch (one forward/backward).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Sequences per micro-batch in evaluation; default <see cref="BatchSize"/>.</summary>
    public int? EvalBatchSize { get; init; }

    /// <summary>Micro-batches per optimizer step; the step's loss is normalised by Σw over all of them (exact accumulation).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Clip the global gradient L2 norm to this value; null or 0 disables clipping.</summary>
    public double? MaxGradNorm { get; init; } = 1.0;

    /// <summary>Evaluate (and save a checkpoint) every this many optimizer steps.</summary>
    public int? EvalSteps { get; init; }

    /// <summary>Evaluate every this fraction of an epoch (for example 0.25); used when <see cref="EvalSteps"/> is null. Default: once per epoch.</summary>
    public double? EvalEpochFraction { get; init; }

    /// <summary>Log the training loss every this many steps.</summary>
    public int LoggingSteps { get; init; } = 10;

    /// <summary>Seed of the data order (per epoch) and of TorchSharp's random generator.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The metric that picks the best checkpoint and drives early stopping.</summary>
    public string MetricForBest { get; init; } = MetricNames.CompletionLoss;

    /// <summary>True when a larger <see cref="MetricForBest"/> is better (accuracy); false for losses.</summary>
    public bool GreaterIsBetter { get; init; }

    /// <summary>Stop after this many evaluations in a row without improvement of <see cref="MetricForBest"/>; null disables early stopping.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>An improvement must exceed this amount to reset the patience counter.</summary>
    public double EarlyStoppingThreshold { get; init; }

    /// <summary>Keep only the last K checkpoints (the best one is always kept in addition); null keeps all.</summary>
    public int? SaveTotalLimit { get; init; }

    /// <summary>Token ids of the answers (e.g. "A".."D") for the accuracy metric; empty: no accuracy.</summary>
    public IReadOnlyList<long> AnswerTokenIds { get; init; } = [];

    /// <summary>
    /// Where evaluation statistics come from: the loss's own token statistics (default; never builds full logits) or
    /// the model's logits through <c>Trainer.PreprocessLogitsForMetrics</c>. Set <see cref="EvaluationSource.Logits"/>
    /// when a subclass overrides that hook: it is called only then.
    /// </summary>
    public EvaluationSource EvaluationSource { get; init; } = EvaluationSource.Loss;

    /// <summary>Token id written into padding positions.</summary>
    public long PadTokenId { get; init; }

    /// <summary>Where to train; null: the device of the model's parameters.</summary>
    public Device? Device { get; init; }

    /// <summary>What to do on a non-finite loss or gradient.</summary>
    public NonFinitePolicy NonFinitePolicy { get; init; } = NonFinitePolicy.Skip;

    /// <summary>With <see cref="NonFinitePolicy.Skip"/>: stop after this many non-finite steps in a row.</summary>
    public int MaxConsecutiveNonFiniteSteps { get; init; } = 5;

    /// <summary>
    /// Resume from a checkpoint: null starts a fresh run; <c>"latest"</c> takes the newest complete checkpoint of the
    /// run that last used <see cref="OutputDirectory"/> (its id is in <c>run.json</c> and in every checkpoint's manifest,
    /// so an older run's checkpoints in the same folder are never picked), or starts fresh — with a warning when
    /// checkpoints were rejected — when there is none; anything else is a checkpoint folder (absolute, or relative to
    /// <see cref="OutputDirectory"/>), whose run the training then continues.
    /// </summary>
    public string? ResumeFrom { get; init; }

    /// <summary>
    /// What the run's numbers depend on beyond the checkpoint itself — the data, the model and the settings — as one
    /// string, typically a hash of them; null (the default): not recorded and not checked. It is recorded in
    /// <c>run.json</c> (<see cref="TrainerCheckpoints.RunKeyOf"/>) and in every checkpoint's <c>trainer_state.json</c>,
    /// and <c>Train</c> refuses, before any training and with an <see cref="ArgumentException"/> that names the
    /// checkpoint and both keys, to resume a checkpoint made under another key (or none): a resumed run never mixes two
    /// configurations. A fresh start (no checkpoint to resume) records the new key.
    /// </summary>
    public string? RunKey { get; init; }

    /// <summary>
    /// CPU threads TorchSharp uses for this process (<c>torch.set_num_threads</c>), set when <c>Train</c> starts; null
    /// keeps TorchSharp's choice (one per core). The setting is process-wide. Small models, or several runs in parallel,
    /// are often much faster with 1–2 threads: on a loaded 2-core machine 2 threads ran 5–15× slower than 1.
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>
    /// When the Trainer is given no logger: true (the default) prints progress to the console — the start, one line per
    /// <see cref="LoggingSteps"/> steps, each evaluation, checkpoints and the end on standard output, warnings on standard
    /// error; false prints nothing. Ignored when a logger is given (it receives the same lines).
    /// </summary>
    public bool ConsoleProgress { get; init; } = true;

    /// <summary>
    /// Data-parallel training across processes (<see cref="Distributed.DistributedContext.FromEnvironment"/>); null: this
    /// process alone. Each rank trains on every N-th micro-batch of the one plan a single process makes, so N ranks with
    /// <see cref="BatchSize"/> b and <see cref="GradientAccumulationSteps"/> g give the update of one process with
    /// accumulation g·N: the same examples, steps and results, for any PLW and with packing. Rank 0 alone writes the
    /// output folder; the other ranks receive its state (a resumed run included) by broadcast.
    /// </summary>
    public Distributed.DistributedContext? Distributed { get; init; }

    /// <summary>The number of processes training together (1 without <see cref="Distributed"/>).</summary>
    public int WorldSize => Distributed?.WorldSize ?? 1;

    /// <summary>The value of <see cref="ResumeFrom"/> that means "the newest complete checkpoint".</summary>
    public const string Latest = "latest";

    /// <summary>The PLW schedule in effect (<see cref="PromptLossWeightSchedule"/> or the constant).</summary>
    public IPromptLossWeightSchedule EffectivePromptLossWeightSchedule =>
        PromptLossWeightSchedule ?? Training.PromptLossWeightSchedule.Constant(PromptLossWeight);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public TrainerOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(OutputDirectory))
            throw Invalid(nameof(OutputDirectory), "is required (checkpoints and metric history are written there)");
        if (!Masking.RoleWeights.IsValid(PromptLossWeight))
            throw Invalid(nameof(PromptLossWeight), $"must be {Masking.RoleWeights.Requirement}, got {PromptLossWeight}");
        if (!Masking.RoleWeights.IsValid(CompletionWeight))
            throw Invalid(nameof(CompletionWeight), $"must be {Masking.RoleWeights.Requirement}, got {CompletionWeight}");
        if (RoleWeights is not null && CompletionWeight != 1.0)
            throw Invalid(nameof(CompletionWeight), "cannot be set with RoleWeights: the role weights give the assistant weight");
        if (RoleWeights is not null && PromptLossWeightSchedule is not null)
            throw Invalid(nameof(RoleWeights), "and PromptLossWeightSchedule cannot both be set: role weights replace the PLW");
        if (RoleWeights is not null)
        {
            try { RoleWeights.Validate(); }
            catch (ArgumentOutOfRangeException ex) { throw Invalid(nameof(RoleWeights), ex.Message); }
        }
        if (Loss is null) throw Invalid(nameof(Loss), "must not be null");
        Positive(LearningRate, nameof(LearningRate), allowZero: true);
        Positive(WeightDecay, nameof(WeightDecay), allowZero: true);
        if (!(Beta1 >= 0 && Beta1 < 1)) throw Invalid(nameof(Beta1), $"must be in [0, 1), got {Beta1}");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw Invalid(nameof(Beta2), $"must be in [0, 1), got {Beta2}");
        Positive(AdamEpsilon, nameof(AdamEpsilon), allowZero: true);
        if (WarmupSteps < 0) throw Invalid(nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        if (!Enum.IsDefined(LearningRateSchedule)) throw Invalid(nameof(LearningRateSchedule), $"is not a known schedule: {LearningRateSchedule}");
        if (MaxSteps is null && Epochs <= 0) throw Invalid(nameof(Epochs), $"must be > 0 (or set MaxSteps), got {Epochs}");
        if (MaxSteps is <= 0) throw Invalid(nameof(MaxSteps), $"must be > 0 when set, got {MaxSteps}");
        if (PackedRowLength is < 2) throw Invalid(nameof(PackedRowLength), $"must be at least 2 tokens when set, got {PackedRowLength}");
        if (BatchSize <= 0) throw Invalid(nameof(BatchSize), $"must be > 0, got {BatchSize}");
        if (EvalBatchSize is <= 0) throw Invalid(nameof(EvalBatchSize), $"must be > 0 when set, got {EvalBatchSize}");
        if (GradientAccumulationSteps <= 0) throw Invalid(nameof(GradientAccumulationSteps), $"must be > 0, got {GradientAccumulationSteps}");
        if (MaxGradNorm is double g && (!double.IsFinite(g) || g < 0)) throw Invalid(nameof(MaxGradNorm), $"must be a finite number >= 0 when set, got {g}");
        if (EvalSteps is <= 0) throw Invalid(nameof(EvalSteps), $"must be > 0 when set, got {EvalSteps}");
        if (EvalSteps is not null && EvalEpochFraction is not null)
            throw Invalid(nameof(EvalEpochFraction), "and EvalSteps cannot both be set");
        if (EvalEpochFraction is double f && !(f > 0 && double.IsFinite(f)))
            throw Invalid(nameof(EvalEpochFraction), $"must be a finite number > 0 when set, got {f}");
        if (LoggingSteps <= 0) throw Invalid(nameof(LoggingSteps), $"must be > 0, got {LoggingSteps}");
        if (string.IsNullOrWhiteSpace(MetricForBest)) throw Invalid(nameof(MetricForBest), "must name a metric, e.g. completion_loss");
        if (EarlyStoppingPatience is <= 0) throw Invalid(nameof(EarlyStoppingPatience), $"must be > 0 when set, got {EarlyStoppingPatience}");
        if (!double.IsFinite(EarlyStoppingThreshold) || EarlyStoppingThreshold < 0)
            throw Invalid(nameof(EarlyStoppingThreshold), $"must be a finite number >= 0, got {EarlyStoppingThreshold}");
        if (SaveTotalLimit is <= 0) throw Invalid(nameof(SaveTotalLimit), $"must be > 0 when set, got {SaveTotalLimit}");
        if (Threads is <= 0) throw Invalid(nameof(Threads), $"must be > 0 when set, got {Threads}");
        if (!Enum.IsDefined(EvaluationSource)) throw Invalid(nameof(EvaluationSource), $"is {(int)EvaluationSource}, not one of {string.Join(", ", Enum.GetNames<EvaluationSource>())}");
        if (AnswerTokenIds is null) throw Invalid(nameof(AnswerTokenIds), "must not be null (use an empty list)");
        if (AnswerTokenIds.Any(id => id < 0)) throw Invalid(nameof(AnswerTokenIds), $"must be token ids >= 0, got [{string.Join(", ", AnswerTokenIds)}]");
        if (AnswerTokenIds.Distinct().Count() != AnswerTokenIds.Count) throw Invalid(nameof(AnswerTokenIds), $"contains duplicates: [{string.Join(", ", AnswerTokenIds)}]");
        if (MaxConsecutiveNonFiniteSteps <= 0) throw Invalid(nameof(MaxConsecutiveNonFiniteSteps), $"must be > 0, got {MaxConsecutiveNonFiniteSteps}");
        if (!Enum.IsDefined(NonFinitePolicy)) throw Invalid(nameof(NonFinitePolicy), $"is not a known policy: {NonFinitePolicy}");
        return this;
    }

    private static void Positive(double value, string name, bool allowZero)
    {
        if (!double.IsFinite(value) || value < 0 || (!allowZero && value == 0))
            throw Invalid(name, $"must be a finite number {(allowZero ? ">=" : ">")} 0, got {value}");
    }

    private static ArgumentException Invalid(string option, string problem) =>
        new($"TrainerOptions.{option} {problem}.", option);
}
