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

/// <summary>
/// A loss weight for each <see cref="TokenRole"/>. For prompt/completion data use
/// <see cref="ForPromptLossWeight"/>; for chats the roles can differ (for example system 0, user 0.1, assistant 1).
/// </summary>
/// <param name="System">Weight of system tokens.</param>
/// <param name="User">Weight of user (prompt) tokens.</param>
/// <param name="Assistant">Weight of assistant (completion) tokens.</param>
public sealed record RoleWeights(double System, double User, double Assistant)
{
    /// <summary>PLW on system and user tokens, 1 on assistant tokens.</summary>
    public static RoleWeights ForPromptLossWeight(double promptLossWeight)
    {
        PromptLossWeightGuard.Check(promptLossWeight, nameof(promptLossWeight));
        return new RoleWeights(promptLossWeight, promptLossWeight, 1.0);
    }

    /// <summary>The weight of <paramref name="role"/>.</summary>
    public double this[TokenRole role] => role switch
    {
        TokenRole.System => System,
        TokenRole.User => User,
        TokenRole.Assistant => Assistant,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown token role."),
    };

    /// <summary>Throws when a weight is negative or not finite.</summary>
    public RoleWeights Validate()
    {
        PromptLossWeightGuard.Check(System, nameof(System));
        PromptLossWeightGuard.Check(User, nameof(User));
        PromptLossWeightGuard.Check(Assistant, nameof(Assistant));
        return this;
    }
}

internal static class PromptLossWeightGuard
{
    public static void Check(double weight, string name)
    {
        if (!double.IsFinite(weight) || weight < 0)
            throw new ArgumentOutOfRangeException(name, weight, $"A loss weight must be a finite number >= 0; {name} is {weight}.");
    }
}
