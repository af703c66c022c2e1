using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// One run of a rendered chat: either a special token (one id) or a piece of text encoded on its own, with the
/// role its tokens carry in the loss mask.
/// </summary>
/// <param name="Text">The special token's name, or the text that was encoded.</param>
/// <param name="Ids">The token ids.</param>
/// <param name="Role">Who the tokens belong to (everything but <see cref="TokenRole.Assistant"/> is prompt).</param>
/// <param name="IsSpecial">True for a special token inserted by id.</param>
/// <param name="AtStart">
/// For text: whether it was encoded as the start of an encode call (SentencePiece adds its dummy-prefix space);
/// decode with the same flag (<see cref="Tokenizers.HfTokenizer.Decode"/>) to get <paramref name="Text"/> back.
/// </param>
/// <param name="IsContext">
/// True for the text of a turn's <see cref="ChatTurn.Context"/> (such as an article), which
/// <see cref="PromptTruncation.ContextFirst"/> shortens first.
/// </param>
/// <param name="Weight">
/// The data weight of the span's tokens: its turn's <see cref="ChatTurn.Weight"/>, times <see cref="ChatTurn.ThinkingWeight"/>
/// in a thinking span, or 0 for a template token that <see cref="TemplateTokens"/> leaves out of the loss.
/// </param>
public sealed record ChatSpan(string Text, IReadOnlyList<long> Ids, TokenRole Role, bool IsSpecial, bool AtStart, bool IsContext = false, double Weight = 1.0);
