namespace PromptLossWeight.Llama.Generation;

/// <summary>How <see cref="LlamaGenerator"/> picks tokens and when it stops.</summary>
public sealed record GenerationOptions
{
    /// <summary>Stop after this many new tokens.</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>0 means greedy decoding (always the most likely token); above 0 samples from softmax(logits / temperature).</summary>
    public double Temperature { get; init; }

    /// <summary>When sampling, keep only the <c>TopK</c> most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>When sampling, keep the smallest set of most likely tokens whose probability reaches <c>TopP</c>; 1 keeps all.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the sampling random generator, for reproducible samples; null draws a fresh seed.</summary>
    public long? Seed { get; init; }

    /// <summary>Token ids that end generation (the stop token is included in the output); null uses the model config's eos ids.</summary>
    public IReadOnlyList<long>? EosTokenIds { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public GenerationOptions Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be at least 1.");
        if (!(Temperature >= 0) || !double.IsFinite(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be finite and >= 0.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be >= 0 (0 disables it).");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        return this;
    }
}
