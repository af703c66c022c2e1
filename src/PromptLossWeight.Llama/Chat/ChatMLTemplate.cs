using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// The ChatML format: per message <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c>; a generation prompt ends
/// with <c>&lt;|im_start|&gt;assistant\n</c>. No BOS unless asked for.
/// </summary>
/// <remarks>
/// Roles: <c>&lt;|im_start|&gt;{role}\n</c> has its turn's role, except for the assistant, whose header is prompt
/// (user); the content and <c>&lt;|im_end|&gt;</c> have the turn's role (assistant content and its
/// <c>&lt;|im_end|&gt;</c> are the completion); the newline after <c>&lt;|im_end|&gt;</c> is template glue and
/// prompt (user after an assistant turn, otherwise the turn's role). Turns may come in any order.
/// <see cref="ChatTemplate.TemplateTokens"/> can give the headers, the assistant header and <c>&lt;|im_end|&gt;</c> other
/// roles or weight 0.
/// </remarks>
public sealed class ChatMLTemplate : ChatTemplate
{
    /// <summary>Opens a message.</summary>
    public const string ImStart = "<|im_start|>";

    /// <summary>Ends a message.</summary>
    public const string ImEnd = "<|im_end|>";

    private readonly bool _addBos;

    /// <summary>
    /// Creates the template; the tokenizer must have <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> special tokens.
    /// <paramref name="addBos"/> puts the tokenizer's BOS first (it must have one).
    /// </summary>
    public ChatMLTemplate(HfTokenizer tokenizer, bool addBos = false) : base(tokenizer)
    {
        tokenizer.SpecialTokenId(ImStart);
        var stops = new List<long> { tokenizer.SpecialTokenId(ImEnd) };
        if (tokenizer.EosId is long eos && eos != stops[0])
            stops.Add(eos);
        StopIds = stops;
        if (addBos && tokenizer.BosToken is null)
            throw new ArgumentException($"addBos is set but the tokenizer from {tokenizer.Source} has no BOS token.", nameof(addBos));
        _addBos = addBos;
    }

    /// <inheritdoc/>
    public override string Name => "chatml";

    /// <inheritdoc/>
    public override IReadOnlyList<long> StopIds { get; }

    private protected override void Layout(IReadOnlyList<ChatTurn> conversation, SpanBuilder builder, bool addGenerationPrompt)
    {
        if (_addBos)
            builder.Special(Tokenizer.BosToken!, TemplateTokens.HeaderOf(conversation[0]));
        for (int i = 0; i < conversation.Count; i++)
        {
            var turn = conversation[i];
            Header(builder, turn);
            builder.Content(turn, turn.Content);
            builder.Special(ImEnd, TemplateTokens.EndOfTurnOf(turn));
            // the newline after <|im_end|> is glue before the next header (weighted as that header; after the last turn, as this turn's)
            double glue = i + 1 < conversation.Count ? TemplateTokens.HeaderOf(conversation[i + 1]).Weight : turn.Weight;
            builder.Text("\n", HeaderRole(turn.Role), weight: glue);
        }
        if (addGenerationPrompt)
            Header(builder, new ChatTurn(TokenRole.Assistant, ""));
    }

    private void Header(SpanBuilder builder, ChatTurn turn)
    {
        var header = TemplateTokens.HeaderOf(turn);
        builder.Special(ImStart, header);
        builder.Text(RoleName(turn.Role) + "\n", header);
    }
}
