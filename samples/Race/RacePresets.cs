using PromptLossWeight.Samples.Race.Pretraining;

namespace PromptLossWeight.Samples.Race;

/// <summary>
/// Named starting points for the sweep's options (<c>--preset</c>); any flag given on the command line overrides
/// the preset's value.
/// </summary>
public static class RacePresets
{
    /// <summary>The names <c>--preset</c> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["auto", "cpu", "gpu", "paper"];

    /// <summary>The PLW grid of the article's sweep.</summary>
    public static IReadOnlyList<double> ArticleGrid { get; } = [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0];

    /// <summary>
    /// The embedded default for 2 CPU cores: a 4-layer d=128 Llama trained from random weights on the synthetic
    /// multiple-choice set for PLW 1, 0.1 and 0, the runs in parallel (one thread each).
    /// </summary>
    public static RaceExperimentOptions Cpu { get; } = new()
    {
        MaxSteps = RaceExperimentOptions.SyntheticSteps,
        Threads = 1,
        Parallelism = int.MaxValue,
    };

    /// <summary>
    /// The default on a GPU (<c>--device auto</c> finding CUDA): the same task with a wider and deeper model
    /// (8 layers, d=256), twice the steps at twice the batch, and the article's PLW grid of eight values, the runs
    /// one after another.
    /// </summary>
    public static RaceExperimentOptions Gpu { get; } = new()
    {
        PromptLossWeights = ArticleGrid,
        MaxSteps = 2 * RaceExperimentOptions.SyntheticSteps,
        BatchSize = 64,
        LearningRate = 1e-3,
        Parallelism = 1,
        SmallModel = new SmallModelOptions { HiddenSize = 256, Layers = 8, Heads = 8, IntermediateSize = 512 },
    };

    /// <summary>
    /// The article's experiment: RACE from the HF Parquet files (<c>--data</c>), a Llama-2-7B chat checkpoint
    /// (<c>--model</c>), LoRA on the attention projections, the article's PLW grid, batch 8 at up to 2048 tokens,
    /// five epochs on a 10,000-question subset with 16 evaluations per run (about three per epoch) on 1,000
    /// validation questions. The learning rate (1e-4) and the LoRA rank (8) are not stated in the article: these are ours.
    /// </summary>
    public static RaceExperimentOptions Paper { get; } = new()
    {
        PromptLossWeights = ArticleGrid,
        Epochs = 5,
        BatchSize = 8,
        LearningRate = 1e-4,
        LearningRateSchedule = PromptLossWeight.Training.LearningRateScheduleKind.Linear,
        LoraRank = 8,
        MaxExamples = 10_000,
        MaxEvalExamples = 1_000,
        MaxLength = 2048,
        Parallelism = 1,
        Device = "cuda",
    };

    /// <summary>
    /// The preset named <paramref name="name"/>; "auto" is <see cref="Gpu"/> when <paramref name="cudaAvailable"/>
    /// says so and <see cref="Cpu"/> otherwise. Throws an <see cref="ArgumentException"/> for an unknown name.
    /// </summary>
    public static RaceExperimentOptions For(string name, Func<bool> cudaAvailable)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(cudaAvailable);
        return name.ToLowerInvariant() switch
        {
            "auto" => cudaAvailable() ? Gpu : Cpu,
            "cpu" => Cpu,
            "gpu" => Gpu,
            "paper" => Paper,
            _ => throw new ArgumentException($"--preset {name}: unknown preset (use {string.Join(", ", Names)})."),
        };
    }
}
