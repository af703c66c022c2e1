namespace PromptLossWeight.Masking;

/// <summary>
/// A run of token ids that share a role: the unit <see cref="MaskBuilder"/> concatenates. Chat templates emit
/// segments (template tokens, special-token ids and tokenized content) so that masks are exact by construction.
/// </summary>
/// <param name="Ids">The token ids.</param>
/// <param name="Role">Who the tokens belong to.</param>
/// <param name="IsContext">True for long context (such as an article) that <see cref="PromptTruncation.ContextFirst"/> shortens first.</param>
/// <param name="Weight">
/// The weight the data gives these tokens (a message's, an example's or a span's <c>weight</c>, multiplied), finite and
/// ≥ 0; it multiplies the role weight (PLW or the completion weight) in <see cref="MaskedExample.Weights(RoleWeights)"/>.
/// </param>
public sealed record TokenSegment(IReadOnlyList<long> Ids, TokenRole Role, bool IsContext = false, double Weight = 1.0);

/// <summary>A piece of prompt text; <paramref name="IsContext"/> marks text that may be shortened first.</summary>
/// <param name="Text">The text.</param>
/// <param name="IsContext">True for long context (such as an article).</param>
public sealed record PromptPart(string Text, bool IsContext = false);
