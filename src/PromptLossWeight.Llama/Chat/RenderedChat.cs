using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// A conversation rendered by a chat template: the spans (special tokens and encoded text with their roles),
/// the token ids and roles, the rendered text for display, and the segments for <see cref="MaskBuilder"/>.
/// </summary>
public sealed class RenderedChat
{
    /// <summary>Creates a rendering from its spans.</summary>
    public RenderedChat(IReadOnlyList<ChatSpan> spans)
    {
        ArgumentNullException.ThrowIfNull(spans);
        Spans = spans;
        Text = string.Concat(spans.Select(s => s.Text));
        Ids = spans.SelectMany(s => s.Ids).ToArray();
        Roles = spans.SelectMany(s => s.Ids.Select(_ => s.Role)).ToArray();
        Weights = spans.SelectMany(s => s.Ids.Select(_ => (float)s.Weight)).ToArray();
    }

    /// <summary>The spans in order.</summary>
    public IReadOnlyList<ChatSpan> Spans { get; }

    /// <summary>The rendered text (special tokens by name), as the template's format documents it.</summary>
    public string Text { get; }

    /// <summary>All token ids.</summary>
    public long[] Ids { get; }

    /// <summary>The role of every token.</summary>
    public TokenRole[] Roles { get; }

    /// <summary>The data weight of every token (<see cref="ChatSpan.Weight"/>): message, example and thinking weights and template-token choices.</summary>
    public float[] Weights { get; }

    /// <summary>
    /// The spans as <see cref="TokenSegment"/>s for <see cref="MaskBuilder.Build(IReadOnlyList{TokenSegment})"/>.
    /// The template already inserted BOS/EOS: use a builder whose options have no <c>BosId</c>/<c>EosId</c>.
    /// </summary>
    public IReadOnlyList<TokenSegment> Segments => Spans.Where(s => s.Ids.Count > 0).Select(s => new TokenSegment(s.Ids, s.Role, s.IsContext, s.Weight)).ToList();

    /// <summary>
    /// The whole rendering as one example, with the data weights (no truncation and no zero-weight skip; use
    /// <see cref="Segments"/> with a <see cref="MaskBuilder"/> for those).
    /// </summary>
    public MaskedExample ToMaskedExample() =>
        Weights.All(w => w == 1f) ? new(Ids, Roles) : new(Ids, Roles) { DataWeights = Weights };
}
