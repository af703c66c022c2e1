namespace PromptLossWeight.Masking;

/// <summary>
/// One tokenized training sequence with the role of every token: the input to collation and to loss weights.
/// </summary>
/// <param name="InputIds">The token ids, prompt first, then completion.</param>
/// <param name="Roles">The role of each token (same length as <paramref name="InputIds"/>).</param>
public sealed record MaskedExample(long[] InputIds, TokenRole[] Roles)
{
    private readonly float[]? _dataWeights;

    /// <summary>
    /// The weight the data gives each token (message, example and span weights multiplied; same length as
    /// <see cref="InputIds"/>, finite and ≥ 0), which multiplies the role weight; null when every token has data weight 1.
    /// </summary>
    public float[]? DataWeights
    {
        get => _dataWeights;
        init
        {
            if (value is not null && value.Length != InputIds.Length)
                throw new ArgumentException($"DataWeights has {value.Length} entries but the example has {InputIds.Length} tokens.", nameof(DataWeights));
            if (value is not null && value.Any(w => !RoleWeights.IsValid(w)))
                throw new ArgumentException($"DataWeights must each be {RoleWeights.Requirement}.", nameof(DataWeights));
            _dataWeights = value;
        }
    }

    /// <summary>The data weight of token <paramref name="i"/> (1 when <see cref="DataWeights"/> is null).</summary>
    public float DataWeight(int i) => _dataWeights is null ? 1f : _dataWeights[i];

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

    /// <summary>
    /// Per-token loss weights: <paramref name="promptLossWeight"/> on prompt tokens, 1 on completion tokens, each times
    /// its <see cref="DataWeight"/>.
    /// </summary>
    public float[] Weights(double promptLossWeight) => Weights(RoleWeights.ForPromptLossWeight(promptLossWeight));

    /// <summary>Per-token loss weights from a weight per role (for multi-turn chats), each times its <see cref="DataWeight"/>.</summary>
    public float[] Weights(RoleWeights roleWeights) => Roles.Select((r, i) => (float)roleWeights[r] * DataWeight(i)).ToArray();

    /// <summary>True when some completion token has a data weight above 0 (otherwise the example has nothing to train on).</summary>
    public bool HasWeightedCompletion => Roles.Where((r, i) => r == TokenRole.Assistant && DataWeight(i) > 0).Any();
}
