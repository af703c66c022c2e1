using PromptLossWeight.Samples.Race.Synthetic;

namespace PromptLossWeight.Samples.Race.Pretraining;

/// <summary>
/// How the small model is pretrained before the sweep (next-token loss on <see cref="SyntheticReadingCorpus"/>).
/// Every value is part of the cache key: change one and the pretraining runs again.
/// </summary>
public sealed record PretrainingOptions
{
    /// <summary>
    /// Optimizer steps; 0 (the default) skips pretraining and the sweep starts from random weights.
    /// </summary>
    public long Steps { get; init; }

    /// <summary>Documents per step.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Peak learning rate (AdamW, warmup then cosine decay).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Evaluations of retrieval during pretraining.</summary>
    public int Evaluations { get; init; } = 6;

    /// <summary>The corpus.</summary>
    public ReadingCorpusOptions Corpus { get; init; } = new();

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid value.</summary>
    public PretrainingOptions Validate()
    {
        if (Steps < 0) throw new ArgumentException($"--pretrain-steps must be >= 0; got {Steps}.", nameof(Steps));
        if (BatchSize < 1) throw new ArgumentException($"--pretrain-batch-size must be >= 1; got {BatchSize}.", nameof(BatchSize));
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentException($"--pretrain-lr must be > 0; got {LearningRate}.", nameof(LearningRate));
        if (Evaluations < 1) throw new ArgumentException($"Pretraining needs at least one evaluation; got {Evaluations}.", nameof(Evaluations));
        try
        {
            Corpus.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"Pretraining corpus: {e.Message}", e);
        }
        return this;
    }
}
