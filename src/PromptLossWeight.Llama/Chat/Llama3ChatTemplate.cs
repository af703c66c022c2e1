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
/// <c>chat_template</c> does with <c>message['content'] | trim</c>.
/// </remarks>
public sealed class Llama3ChatTemplate : ChatTemplate
{
    /// <summary>Creates the template; the tokenizer must have the Llama-3 special tokens (see <see cref="Llama3Tokens"/>).</summary>
    public Llama3ChatTemplate(ChatTokenizer tokenizer) : base(tokenizer)
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
        builder.Special(Llama3Tokens.BeginOfText, HeaderRole(conversation[0].Role));
        foreach (var turn in conversation)
        {
            Header(builder, turn.Role);
            builder.Text(Jinja.Values.Strip(turn.Content, null), turn.Role);
            builder.Special(Llama3Tokens.EndOfTurn, turn.Role);
        }
        if (addGenerationPrompt)
            Header(builder, TokenRole.Assistant);
    }

    private static void Header(SpanBuilder builder, TokenRole role)
    {
        var headerRole = HeaderRole(role);
        builder.Special(Llama3Tokens.StartHeader, headerRole);
        builder.Text(RoleName(role), headerRole);
        builder.Special(Llama3Tokens.EndHeader, headerRole);
        builder.Text("\n\n", headerRole);
    }
}
