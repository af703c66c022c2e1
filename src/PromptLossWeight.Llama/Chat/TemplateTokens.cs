using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>What a kind of template-inserted token carries in the loss (see <see cref="TemplateTokens"/>).</summary>
public enum TemplateTokenWeight
{
    /// <summary>Prompt: the role of the turn's header (an assistant turn's counts as user), so it weighs the PLW (times the turn's data weight).</summary>
    Prompt,
    /// <summary>The turn's own role and weight: after an assistant message it is completion, trained with the message.</summary>
    Turn,
    /// <summary>Weight 0: it is in the sequence (the model sees it) but carries no loss; its role is that of <see cref="Prompt"/>.</summary>
    None,
}

/// <summary>
/// What the tokens a chat template inserts around each message carry in the loss: the role header, the header of an
/// assistant turn (the generation prompt, with any empty <c>&lt;think&gt;&lt;/think&gt;</c> block the template puts there),
/// and the end-of-turn / EOS token that closes a turn. The defaults are the library's masks as they always were: headers
/// are prompt, the end of turn goes with its turn (so an assistant's end of turn is trained with the message, as
/// Axolotl's <c>train_on_eos: turn</c>). Set it on a template with <see cref="ChatTemplate.TemplateTokens"/>.
/// </summary>
public sealed record TemplateTokens
{
    /// <summary>The defaults: <see cref="Header"/> and <see cref="GenerationPrompt"/> prompt, <see cref="EndOfTurn"/> with its turn.</summary>
    public static TemplateTokens Default { get; } = new();

    /// <summary>
    /// The header of a system or user turn (and the template text before it, such as the BOS or the newline after the
    /// previous turn's end). <see cref="TemplateTokenWeight.Prompt"/> and <see cref="TemplateTokenWeight.Turn"/> are the
    /// same here (the turn is prompt); <see cref="TemplateTokenWeight.None"/> leaves headers out of the loss even when
    /// the PLW is above 0.
    /// </summary>
    public TemplateTokenWeight Header { get; init; } = TemplateTokenWeight.Prompt;

    /// <summary>
    /// The header of an assistant turn, which is what a generation prompt adds (e.g. <c>&lt;|im_start|&gt;assistant\n</c>,
    /// and the empty <c>&lt;think&gt;\n\n&lt;/think&gt;\n\n</c> Qwen3's template writes before an answer without thinking).
    /// <see cref="TemplateTokenWeight.Turn"/> trains it as completion with the message.
    /// </summary>
    public TemplateTokenWeight GenerationPrompt { get; init; } = TemplateTokenWeight.Prompt;

    /// <summary>
    /// The end-of-turn / EOS token that closes a turn (<c>&lt;|eot_id|&gt;</c>, <c>&lt;|im_end|&gt;</c>, <c>&lt;/s&gt;</c>, …).
    /// Default <see cref="TemplateTokenWeight.Turn"/>: an assistant's end of turn is completion, so the model learns to
    /// stop; <see cref="TemplateTokenWeight.Prompt"/> makes it prompt (PLW), <see cref="TemplateTokenWeight.None"/> weight 0.
    /// </summary>
    public TemplateTokenWeight EndOfTurn { get; init; } = TemplateTokenWeight.Turn;

    /// <summary>The role and weight of a header token of <paramref name="turn"/>.</summary>
    internal (TokenRole Role, double Weight) HeaderOf(ChatTurn turn) =>
        Apply(turn.Role == TokenRole.Assistant ? GenerationPrompt : Header, turn);

    /// <summary>The role and weight of the end-of-turn token of <paramref name="turn"/>.</summary>
    internal (TokenRole Role, double Weight) EndOfTurnOf(ChatTurn turn) => Apply(EndOfTurn, turn);

    private static (TokenRole Role, double Weight) Apply(TemplateTokenWeight policy, ChatTurn turn)
    {
        var promptRole = turn.Role == TokenRole.Assistant ? TokenRole.User : turn.Role;
        return policy switch
        {
            TemplateTokenWeight.Prompt => (promptRole, turn.Weight),
            TemplateTokenWeight.Turn => (turn.Role, turn.Weight),
            TemplateTokenWeight.None => (promptRole, 0.0),
            _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "Unknown template token weight."),
        };
    }

    /// <summary>Throws when a value is not a defined <see cref="TemplateTokenWeight"/>.</summary>
    public TemplateTokens Validate()
    {
        foreach (var (name, value) in new[] { (nameof(Header), Header), (nameof(GenerationPrompt), GenerationPrompt), (nameof(EndOfTurn), EndOfTurn) })
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(name, value, $"Unknown template token weight for {name}.");
        return this;
    }
}
