namespace PromptLossWeight.Readers;

/// <summary>A prompt/completion pair as read from a dataset, before tokenization.</summary>
/// <param name="Prompt">The prompt text (instruction and input).</param>
/// <param name="Completion">The text the model is trained to produce.</param>
public sealed record PromptCompletionExample(string Prompt, string Completion)
{
    /// <summary>
    /// The example's weight from the data (the optional weight field or column, <see cref="PromptCompletionFields.Weight"/>):
    /// it multiplies the loss weight of every token (pass it to <c>MaskBuilder.Build(prompt, completion, weight)</c>).
    /// Finite and ≥ 0; 1 when the data has none.
    /// </summary>
    public double Weight { get; init; } = 1.0;
}

/// <summary>The names of the prompt, completion and optional weight fields (JSON Lines keys or Parquet columns).</summary>
/// <param name="Prompt">Name of the prompt field.</param>
/// <param name="Completion">Name of the completion field.</param>
/// <param name="Weight">
/// Name of the optional per-example weight field (a number, finite and ≥ 0; records or files without it weigh 1), or
/// null to ignore any weight in the data.
/// </param>
public sealed record PromptCompletionFields(string Prompt = "prompt", string Completion = "completion", string? Weight = "weight")
{
    /// <summary>Throws when a name is empty or two names are the same.</summary>
    public PromptCompletionFields Validate()
    {
        if (string.IsNullOrWhiteSpace(Prompt)) throw new ArgumentException("The prompt field name is empty.", nameof(Prompt));
        if (string.IsNullOrWhiteSpace(Completion)) throw new ArgumentException("The completion field name is empty.", nameof(Completion));
        if (Prompt == Completion) throw new ArgumentException($"The prompt and completion fields are both '{Prompt}'.", nameof(Completion));
        if (Weight is not null && string.IsNullOrWhiteSpace(Weight)) throw new ArgumentException("The weight field name is empty (use null for none).", nameof(Weight));
        if (Weight == Prompt || Weight == Completion) throw new ArgumentException($"The weight field '{Weight}' is also the prompt or completion field.", nameof(Weight));
        return this;
    }

    /// <summary>The example of a record: its prompt and completion, and its weight (0 makes it a counted skip with a warning).</summary>
    internal static PromptCompletionExample Example(string prompt, string completion, double weight) =>
        weight > 0
            ? new PromptCompletionExample(prompt, completion) { Weight = weight }
            : throw new NothingToTrainException("the example's weight is 0 (nothing to train on)");
}
