namespace PromptLossWeight.Masking;

/// <summary>One message of a conversation.</summary>
/// <param name="Role">The speaker.</param>
/// <param name="Content">The message text.</param>
public sealed record ChatTurn(TokenRole Role, string Content)
{
    /// <summary>
    /// A part of <see cref="Content"/> (for example an article) whose tokens are marked as context, so that
    /// <see cref="PromptTruncation.ContextFirst"/> shortens it first; null for none. It is tokenized on its own, and it
    /// must occur in <see cref="Content"/> as written.
    /// </summary>
    public string? Context { get; init; }

    /// <summary>
    /// The weight the data gives this message (the <c>weight</c> of a chat JSON Lines message, times the example's
    /// <c>weight</c>): it multiplies the loss weight of every token of the turn (its content, its header and its end of
    /// turn). Finite and ≥ 0; 1 by default. A weight of 0 on an assistant message leaves it out of the loss, as the
    /// <c>weight</c> of OpenAI's fine-tuning format does.
    /// </summary>
    public double Weight { get; init; } = 1.0;

    /// <summary>
    /// A factor on <see cref="Weight"/> for the thinking part of an assistant message, the span from
    /// <c>&lt;think&gt;</c> to <c>&lt;/think&gt;</c> (as Qwen3 and DeepSeek-R1 write reasoning), so that the thinking and
    /// the answer are weighted separately (0 trains on the answer only). Null (the default) weighs the thinking like the
    /// rest of the message. Finite and ≥ 0.
    /// </summary>
    public double? ThinkingWeight { get; init; }
}
