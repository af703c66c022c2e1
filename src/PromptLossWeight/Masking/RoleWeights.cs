namespace PromptLossWeight.Masking;

/// <summary>
/// A loss weight for each <see cref="TokenRole"/>. For prompt/completion data use
/// <see cref="ForPromptLossWeight(double)"/>; for chats the roles can differ (for example system 0, user 0.1, assistant 1).
/// </summary>
/// <param name="System">Weight of system tokens.</param>
/// <param name="User">Weight of user (prompt) tokens.</param>
/// <param name="Assistant">Weight of assistant (completion) tokens.</param>
public sealed record RoleWeights(double System, double User, double Assistant)
{
    /// <summary>What every loss weight must be, in words; <see cref="IsValid"/> is the one place it is tested.</summary>
    internal const string Requirement = "a finite number >= 0";

    /// <summary>PLW on system and user tokens, 1 on assistant tokens.</summary>
    public static RoleWeights ForPromptLossWeight(double promptLossWeight) => ForPromptLossWeight(promptLossWeight, 1.0);

    /// <summary>
    /// λp = <paramref name="promptLossWeight"/> on system and user tokens, λc = <paramref name="completionWeight"/> on
    /// assistant tokens (the independent prompt and completion weights of Weighted Instruction Tuning). Under
    /// <c>LossNormalization.WeightSum</c> only their ratio matters; under
    /// <c>LossNormalization.NonZeroTokens</c> both do.
    /// </summary>
    public static RoleWeights ForPromptLossWeight(double promptLossWeight, double completionWeight)
    {
        Check(promptLossWeight, nameof(promptLossWeight));
        Check(completionWeight, nameof(completionWeight));
        return new RoleWeights(promptLossWeight, promptLossWeight, completionWeight);
    }

    /// <summary>True when <paramref name="weight"/> can be a loss weight (PLW or role weight): finite and ≥ 0.</summary>
    public static bool IsValid(double weight) => double.IsFinite(weight) && weight >= 0;

    /// <summary>
    /// Returns <paramref name="weight"/>, or throws an <see cref="ArgumentOutOfRangeException"/> naming
    /// <paramref name="name"/> when it is not a valid loss weight (see <see cref="IsValid"/>).
    /// </summary>
    public static double Check(double weight, string name) =>
        IsValid(weight) ? weight : throw new ArgumentOutOfRangeException(name, weight, $"A loss weight must be {Requirement}; {name} is {weight}.");

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
        Check(System, nameof(System));
        Check(User, nameof(User));
        Check(Assistant, nameof(Assistant));
        return this;
    }
}
