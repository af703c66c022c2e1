using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// The Llama-2 chat format: <c>&lt;s&gt;[INST] &lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n{user} [/INST] {assistant} &lt;/s&gt;</c>,
/// later turns <c>&lt;s&gt;[INST] {user} [/INST] {assistant} &lt;/s&gt;</c>, where &lt;s&gt; and &lt;/s&gt; are the BOS and EOS ids.
/// </summary>
/// <remarks>
/// Roles: BOS, <c>[INST]</c>, the user message and <c> [/INST]</c> are user (prompt); the system block
/// (<c> &lt;&lt;SYS&gt;&gt;\n…\n&lt;&lt;/SYS&gt;&gt;\n\n</c>) is system (prompt); <c> {assistant} </c> and the EOS are assistant
/// (completion). Each turn's text after &lt;s&gt; is encoded as the start of an encode call, as Meta's reference code
/// does, so a SentencePiece tokenizer puts its dummy-prefix space before <c>[INST]</c>. Content is stripped (Python's
/// <c>strip()</c>) as the model's own <c>chat_template</c> and Meta's reference code do; with a system turn, the system
/// block and the first user message are stripped together (the system block's start and the user message's end).
/// Turns: an optional system turn first, then user and assistant turns alternating, starting with user.
/// Weights: the BOS, <c>[INST]</c> and the system block weigh as the user message they share a run with (Llama-2 has no
/// header tokens of its own, so <see cref="TemplateTokens.Header"/> and <see cref="TemplateTokens.GenerationPrompt"/>
/// do not apply); the EOS follows <see cref="TemplateTokens.EndOfTurn"/>.
/// </remarks>
public sealed class Llama2ChatTemplate : ChatTemplate
{
    private readonly string _bos;
    private readonly string _eos;

    /// <summary>Creates the template; the tokenizer must have BOS and EOS tokens.</summary>
    public Llama2ChatTemplate(HfTokenizer tokenizer) : base(tokenizer)
    {
        _bos = tokenizer.BosToken ?? throw new ArgumentException($"The Llama-2 chat template needs a BOS token; the tokenizer from {tokenizer.Source} has none.", nameof(tokenizer));
        _eos = tokenizer.EosToken ?? throw new ArgumentException($"The Llama-2 chat template needs an EOS token; the tokenizer from {tokenizer.Source} has none.", nameof(tokenizer));
        StopIds = [tokenizer.SpecialTokenId(_eos)];
    }

    /// <inheritdoc/>
    public override string Name => "llama-2";

    /// <inheritdoc/>
    public override IReadOnlyList<long> StopIds { get; }

    /// <inheritdoc/>
    protected override void CheckOrder(IReadOnlyList<ChatTurn> conversation)
    {
        int first = conversation[0].Role == TokenRole.System ? 1 : 0;
        if (first == conversation.Count)
            throw new ArgumentException("The conversation has only a system turn; Llama-2 chat needs a user turn after it.", nameof(conversation));
        for (int i = first; i < conversation.Count; i++)
        {
            var expected = (i - first) % 2 == 0 ? TokenRole.User : TokenRole.Assistant;
            if (conversation[i].Role != expected)
                throw new ArgumentException(
                    $"Turn {i} is {conversation[i].Role} but Llama-2 chat expects {expected} there (an optional system turn first, then user and assistant alternating).",
                    nameof(conversation));
        }
    }

    private protected override void Layout(IReadOnlyList<ChatTurn> conversation, SpanBuilder builder, bool addGenerationPrompt)
    {
        string? system = conversation[0].Role == TokenRole.System ? conversation[0].Content : null;
        double systemWeight = conversation[0].Weight;
        for (int i = system is null ? 0 : 1; i < conversation.Count; i += 2)
        {
            double userWeight = conversation[i].Weight;
            builder.Special(_bos, TokenRole.User, userWeight);
            builder.Text("[INST]", TokenRole.User, atStart: true, userWeight);
            if (system is not null)
            {
                string block = "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
                string both = Jinja.Values.Strip(block + conversation[i].Content, null);
                int systemLength = Math.Min(block.Length, both.Length);
                builder.Text(" " + both[..systemLength], TokenRole.System, weight: systemWeight);
                builder.Text(both[systemLength..] + " [/INST]", TokenRole.User, weight: userWeight);
                system = null;
            }
            else
            {
                builder.Text(" " + Jinja.Values.Strip(conversation[i].Content, null) + " [/INST]", TokenRole.User, weight: userWeight);
            }
            if (i + 1 < conversation.Count)
            {
                var reply = conversation[i + 1];
                builder.Content(reply, " " + Jinja.Values.Strip(reply.Content, null) + " ");
                builder.Special(_eos, TemplateTokens.EndOfTurnOf(reply));
            }
        }
    }
}
