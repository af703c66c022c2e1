namespace PromptLossWeight.Readers;

/// <summary>A prompt/completion pair as read from a dataset, before tokenization.</summary>
/// <param name="Prompt">The prompt text (instruction and input).</param>
/// <param name="Completion">The text the model is trained to produce.</param>
public sealed record PromptCompletionExample(string Prompt, string Completion);

/// <summary>The names of the prompt and completion fields (JSON Lines keys or Parquet columns).</summary>
/// <param name="Prompt">Name of the prompt field.</param>
/// <param name="Completion">Name of the completion field.</param>
public sealed record PromptCompletionFields(string Prompt = "prompt", string Completion = "completion")
{
    /// <summary>Throws when a name is empty or both names are the same.</summary>
    public PromptCompletionFields Validate()
    {
        if (string.IsNullOrWhiteSpace(Prompt)) throw new ArgumentException("The prompt field name is empty.", nameof(Prompt));
        if (string.IsNullOrWhiteSpace(Completion)) throw new ArgumentException("The completion field name is empty.", nameof(Completion));
        if (Prompt == Completion) throw new ArgumentException($"The prompt and completion fields are both '{Prompt}'.", nameof(Completion));
        return this;
    }
}
