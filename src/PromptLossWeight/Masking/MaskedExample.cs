namespace PromptLossWeight.Masking;

/// <summary>
/// One tokenized training sequence with the role of every token: the input to collation and to loss weights.
/// </summary>
/// <param name="InputIds">The token ids, prompt first, then completion.</param>
/// <param name="Roles">The role of each token (same length as <paramref name="InputIds"/>).</param>
public sealed record MaskedExample(long[] InputIds, TokenRole[] Roles)
{
    /// <summary>The number of tokens.</summary>
    public int Length => InputIds.Length;

    /// <summary>True for prompt tokens (every role but <see cref="TokenRole.Assistant"/>).</summary>
    public bool[] PromptMask => Roles.Select(r => r != TokenRole.Assistant).ToArray();

    /// <summary>True for completion tokens (<see cref="TokenRole.Assistant"/>).</summary>
    public bool[] CompletionMask => Roles.Select(r => r == TokenRole.Assistant).ToArray();

    /// <summary>Number of prompt tokens.</summary>
    public int PromptLength => Roles.Count(r => r != TokenRole.Assistant);

    /// <summary>Number of completion tokens.</summary>
    public int CompletionLength => Roles.Count(r => r == TokenRole.Assistant);

    /// <summary>Per-token loss weights: <paramref name="promptLossWeight"/> on prompt tokens, 1 on completion tokens.</summary>
    public float[] Weights(double promptLossWeight) => Weights(RoleWeights.ForPromptLossWeight(promptLossWeight));

    /// <summary>Per-token loss weights from a weight per role (for multi-turn chats).</summary>
    public float[] Weights(RoleWeights roleWeights) => Roles.Select(r => (float)roleWeights[r]).ToArray();
}
