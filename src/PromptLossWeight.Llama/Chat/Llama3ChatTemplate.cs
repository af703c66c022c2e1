using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// The Llama-3 instruct format: <c>&lt;|begin_of_text|&gt;</c>, then per message
/// <c>&lt;|start_header_id|&gt;{role}&lt;|end_header_id|&gt;\n\n{content}&lt;|eot_id|&gt;</c>; a generation prompt ends with
/// <c>&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n</c>.
/// </summary>
/// <remarks>
/// Roles: a header (special tokens, role name and the blank line) has its turn's role, except the assistant's
/// header, which is prompt (user); the content and its <c>&lt;|eot_id|&gt;</c> have the turn's role, so the
/// assistant's content and end of turn are the completion. <c>&lt;|begin_of_text|&gt;</c> has the first turn's
/// prompt role. Turns may come in any order. Content is trimmed (Python's <c>strip()</c>), as the model's own
/// <c>chat_template</c> does with <c>message['content'] | trim</c>. <see cref="ChatTemplate.TemplateTokens"/> can give the
/// headers, the assistant header and the <c>&lt;|eot_id|&gt;</c> other roles or weight 0.
/// </remarks>
public sealed class Llama3ChatTemplate : ChatTemplate
{
    /// <summary>Creates the template; the tokenizer must have the Llama-3 special tokens (see <see cref="Llama3Tokens"/>).</summary>
    public Llama3ChatTemplate(HfTokenizer tokenizer) : base(tokenizer)
    {
        foreach (string token in new[] { Llama3Tokens.BeginOfText, Llama3Tokens.StartHeader, Llama3Tokens.EndHeader, Llama3Tokens.EndOfTurn })
            tokenizer.SpecialTokenId(token);
        var stops = new List<long> { tokenizer.SpecialTokenId(Llama3Tokens.EndOfTurn) };
        if (tokenizer.TryGetSpecialTokenId(Llama3Tokens.EndOfText, out long end))
            stops.Add(end);
        StopIds = stops;
    }

    /// <inheritdoc/>
    public override string Name => "llama-3";

    /// <inheritdoc/>
    public override IReadOnlyList<long> StopIds { get; }

    private protected override void Layout(IReadOnlyList<ChatTurn> conversation, SpanBuilder builder, bool addGenerationPrompt)
    {
        builder.Special(Llama3Tokens.BeginOfText, TemplateTokens.HeaderOf(conversation[0]));
        foreach (var turn in conversation)
        {
            Header(builder, turn);
            builder.Content(turn, Jinja.Values.Strip(turn.Content, null));
            builder.Special(Llama3Tokens.EndOfTurn, TemplateTokens.EndOfTurnOf(turn));
        }
        if (addGenerationPrompt)
            Header(builder, new ChatTurn(TokenRole.Assistant, ""));
    }

    private void Header(SpanBuilder builder, ChatTurn turn)
    {
        var header = TemplateTokens.HeaderOf(turn);
        builder.Special(Llama3Tokens.StartHeader, header);
        builder.Text(RoleName(turn.Role), header);
        builder.Special(Llama3Tokens.EndHeader, header);
        builder.Text("\n\n", header);
    }
}
