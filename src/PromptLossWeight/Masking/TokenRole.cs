namespace PromptLossWeight.Masking;

/// <summary>
/// Who a token belongs to. Everything that is not <see cref="Assistant"/> is prompt; assistant tokens are the
/// completion the model is trained to produce. For a plain prompt/completion pair the prompt is <see cref="User"/>.
/// </summary>
public enum TokenRole : byte
{
    /// <summary>A system message (and the template tokens around it).</summary>
    System = 0,
    /// <summary>A user turn, or the prompt of a prompt/completion pair.</summary>
    User = 1,
    /// <summary>An assistant turn, or the completion of a prompt/completion pair.</summary>
    Assistant = 2,
}
