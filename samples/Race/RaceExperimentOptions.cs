using System.Globalization;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race.Pretraining;
using PromptLossWeight.Samples.Race.Synthetic;

namespace PromptLossWeight.Samples.Race;

/// <summary>Everything the RACE experiment runner needs; the defaults are the embedded demonstration.</summary>
public sealed record RaceExperimentOptions
{
    /// <summary>
    /// An HF Llama checkpoint: a repo id such as "meta-llama/Llama-2-7b-hf" found in the Hugging Face cache, or a folder
    /// (config.json, safetensors, tokenizer.model); null trains the small built-in model from scratch.
    /// </summary>
    public string? ModelDirectory { get; init; }

    /// <summary>RACE data (a dataset id such as "ehovy/race", a folder, .parquet, .jsonl or release .txt); null uses the built-in synthetic set.</summary>
    public string? DataPath { get; init; }

    /// <summary>Hugging Face cache locations and whether repo ids missing from the cache are downloaded.</summary>
    public HubOptions Hub { get; init; } = new();

    /// <summary>Validation data; null takes the data's validation split, or a fraction of a single file.</summary>
    public string? ValidationPath { get; init; }

    /// <summary>Fraction of a single-file dataset held out for validation when it has no validation split.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>RACE configuration to read.</summary>
    public RaceConfig Config { get; init; } = RaceConfig.All;

    /// <summary>The prompt-loss weights of the sweep, one run each.</summary>
    public IReadOnlyList<double> PromptLossWeights { get; init; } = [1, 0.1, 0];

    /// <summary>Passes over the training data per run (ignored when <see cref="MaxSteps"/> is set).</summary>
    public int Epochs { get; init; } = 4;

    /// <summary>Optimizer steps per run; overrides <see cref="Epochs"/>.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>Steps per run of the embedded demonstration (the command line's default for --max-steps without --data).</summary>
    public const long SyntheticSteps = 500;

    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Peak learning rate (AdamW, linear warmup then linear decay).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Learning-rate decay after warmup.</summary>
    public PromptLossWeight.Training.LearningRateScheduleKind LearningRateSchedule { get; init; } = PromptLossWeight.Training.LearningRateScheduleKind.Constant;

    /// <summary>Evaluate every this many steps; null: 16 evaluations per run.</summary>
    public int? EvalSteps { get; init; }

    /// <summary>LoRA rank when fine-tuning a checkpoint (<see cref="ModelDirectory"/>).</summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>"auto" (CUDA when available), "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; init; } = "auto";

    /// <summary>Folder for the CSV, plots, report and per-run checkpoints.</summary>
    public string OutputDirectory { get; init; } = "race-output";

    /// <summary>Use at most this many training examples (a subset for quick runs).</summary>
    public int? MaxExamples { get; init; }

    /// <summary>Use at most this many validation examples.</summary>
    public int? MaxEvalExamples { get; init; } = 512;

    /// <summary>Longest sequence in tokens; longer examples lose the end of their article.</summary>
    public int? MaxLength { get; init; } = 1024;

    /// <summary>Pack training examples into rows of this many tokens (null: pad each batch); the batch size then counts rows.</summary>
    public int? PackedRowLength { get; init; }

    /// <summary>Skip malformed records (counted) instead of stopping at the first.</summary>
    public bool SkipBadRecords { get; init; }

    /// <summary>Chat template for a checkpoint (llama-2, llama-3, chatml); null picks from the tokenizer file.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Seed of the model initialisation, data order and synthetic data.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>PLW runs trained at the same time (each on its own thread); null: one at a time.</summary>
    public int? Parallelism { get; init; }

    /// <summary>CPU threads for TorchSharp; null keeps TorchSharp's default.</summary>
    public int? Threads { get; init; }

    /// <summary>CPU threads for the pretraining (a single run); null: every core.</summary>
    public int? PretrainThreads { get; init; }

    /// <summary>What to do with an output folder that holds an earlier sweep: resume it (the default) or start fresh.</summary>
    public ExistingOutputPolicy ExistingOutput { get; init; } = ExistingOutputPolicy.Resume;

    /// <summary>Pretraining of the small model (no <see cref="ModelDirectory"/>) before the sweep; cached in the output folder.</summary>
    public PretrainingOptions Pretraining { get; init; } = new();

    /// <summary>The synthetic data used when <see cref="DataPath"/> is null.</summary>
    public SyntheticRaceOptions Synthetic { get; init; } = new();

    /// <summary>Size of the model trained from scratch (no <see cref="ModelDirectory"/>).</summary>
    public SmallModelOptions SmallModel { get; init; } = new();

    /// <summary>
    /// Largest prompt-loss weight accepted. Above it the completion's share of the loss is negligible, and weight sums in
    /// float32 come close to overflowing (1e38 does).
    /// </summary>
    public const double MaxPromptLossWeight = 1000;

    /// <summary>Largest learning rate accepted: AdamW moves each weight by about this much per step, so more only diverges.</summary>
    public const double MaxLearningRate = 1;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option (its command-line name).</summary>
    public RaceExperimentOptions Validate()
    {
        if (PromptLossWeights.Count == 0) throw new ArgumentException("--plw needs at least one value.", nameof(PromptLossWeights));
        foreach (double w in PromptLossWeights)
            if (!double.IsFinite(w) || w < 0 || w > MaxPromptLossWeight)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"--plw values must be numbers from 0 to {MaxPromptLossWeight} (the article sweeps 0 to 1); got {w}."), nameof(PromptLossWeights));
        if (PromptLossWeights.Distinct().Count() != PromptLossWeights.Count) throw new ArgumentException("--plw has duplicate values.", nameof(PromptLossWeights));
        if (Epochs < 1) throw new ArgumentException($"--epochs must be >= 1; got {Epochs}.", nameof(Epochs));
        if (MaxSteps is < 1) throw new ArgumentException($"--max-steps must be >= 1; got {MaxSteps}.", nameof(MaxSteps));
        if (BatchSize < 1) throw new ArgumentException($"--batch-size must be >= 1; got {BatchSize}.", nameof(BatchSize));
        if (!(LearningRate > 0 && LearningRate <= MaxLearningRate))
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--lr must be > 0 and at most {MaxLearningRate} (AdamW moves each weight by about lr per step); got {LearningRate}."), nameof(LearningRate));
        if (EvalSteps is < 1) throw new ArgumentException($"--eval-steps must be >= 1; got {EvalSteps}.", nameof(EvalSteps));
        if (LoraRank < 1) throw new ArgumentException($"--lora-rank must be >= 1; got {LoraRank}.", nameof(LoraRank));
        if (!(ValidationFraction > 0 && ValidationFraction < 1)) throw new ArgumentException($"--validation-fraction must be in (0, 1); got {ValidationFraction}.", nameof(ValidationFraction));
        if (MaxExamples is < 1) throw new ArgumentException($"--max-examples must be >= 1; got {MaxExamples}.", nameof(MaxExamples));
        if (MaxEvalExamples is < 1) throw new ArgumentException($"--max-eval-examples must be >= 1; got {MaxEvalExamples}.", nameof(MaxEvalExamples));
        if (MaxLength is < 8) throw new ArgumentException($"--max-length must be >= 8; got {MaxLength}.", nameof(MaxLength));
        if (Parallelism is < 1) throw new ArgumentException($"--parallel must be >= 1; got {Parallelism}.", nameof(Parallelism));
        if (Threads is < 1) throw new ArgumentException($"--threads must be >= 1; got {Threads}.", nameof(Threads));
        if (PretrainThreads is < 1) throw new ArgumentException($"--pretrain-threads must be >= 1; got {PretrainThreads}.", nameof(PretrainThreads));
        if (!Enum.IsDefined(ExistingOutput)) throw new ArgumentException($"Unknown existing-output policy {ExistingOutput}.", nameof(ExistingOutput));
        Pretraining.Validate();
        if (string.IsNullOrWhiteSpace(OutputDirectory)) throw new ArgumentException("--output must name a folder.", nameof(OutputDirectory));
        if (File.Exists(OutputDirectory)) throw new ArgumentException($"--output {OutputDirectory} is a file; it must name a folder.", nameof(OutputDirectory));
        Synthetic.Validate();
        SmallModel.Validate();
        return this;
    }
}

/// <summary>What a sweep does with an output folder that already holds results.</summary>
public enum ExistingOutputPolicy
{
    /// <summary>Continue: reuse the cached pretraining and resume each PLW run from its latest checkpoint (the default).</summary>
    Resume,

    /// <summary>Remove the earlier sweep's files (runs, pretraining cache, report) and start fresh; other files are left alone.</summary>
    Overwrite,
}

/// <summary>The size of the Llama trained from scratch when no checkpoint is given.</summary>
public sealed record SmallModelOptions
{
    /// <summary>Model width.</summary>
    public int HiddenSize { get; init; } = 128;

    /// <summary>Decoder layers.</summary>
    public int Layers { get; init; } = 4;

    /// <summary>Attention heads.</summary>
    public int Heads { get; init; } = 4;

    /// <summary>SwiGLU hidden size.</summary>
    public int IntermediateSize { get; init; } = 256;

    /// <summary>RoPE base (rope_theta).</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>Throws when a value is out of range.</summary>
    public SmallModelOptions Validate()
    {
        if (HiddenSize < 8 || Heads < 1 || HiddenSize % Heads != 0 || (HiddenSize / Heads) % 2 != 0)
            throw new ArgumentException($"The small model needs a hidden size divisible by the heads into even head sizes; got {HiddenSize}/{Heads}.");
        if (!(RopeTheta > 1) || !double.IsFinite(RopeTheta)) throw new ArgumentException($"--rope-theta must be a number above 1; got {RopeTheta}.");
        if (Layers < 1 || IntermediateSize < 1) throw new ArgumentException("The small model needs at least one layer and a positive intermediate size.");
        return this;
    }
}
