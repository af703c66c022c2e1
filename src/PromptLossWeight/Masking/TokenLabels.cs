namespace PromptLossWeight.Masking;

/// <summary>
/// The label conventions shared by collation (which writes labels) and the losses (which read them).
/// </summary>
internal static class TokenLabels
{
    /// <summary>The label value that marks a token as ignored (the PyTorch / Hugging Face convention).</summary>
    public const long IgnoreIndex = -100;
}
