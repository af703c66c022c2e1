namespace PromptLossWeight.Masking;

/// <summary>
/// A run of token ids that share a role: the unit <see cref="MaskBuilder"/> concatenates. Chat templates emit
/// segments (template tokens, special-token ids and tokenized content) so that masks are exact by construction.
/// </summary>
/// <param name="Ids">The token ids.</param>
/// <param name="Role">Who the tokens belong to.</param>
/// <param name="IsContext">True for long context (such as an article) that <see cref="PromptTruncation.ContextFirst"/> shortens first.</param>
public sealed record TokenSegment(IReadOnlyList<long> Ids, TokenRole Role, bool IsContext = false);

/// <summary>A piece of prompt text; <paramref name="IsContext"/> marks text that may be shortened first.</summary>
/// <param name="Text">The text.</param>
/// <param name="IsContext">True for long context (such as an article).</param>
public sealed record PromptPart(string Text, bool IsContext = false);

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
}
