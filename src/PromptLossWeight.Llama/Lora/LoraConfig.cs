namespace PromptLossWeight.Llama.Lora;

/// <summary>
/// Settings of a LoRA adapter: each targeted projection W gets a trainable low-rank update, so it computes
/// <c>W·x + (Alpha / R) · B·A·dropout(x)</c> with A [R, in] and B [out, R].
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The projection names LoRA can wrap in a Llama model.</summary>
    public static readonly IReadOnlyList<string> KnownTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Rank of the update (r).</summary>
    public int R { get; init; } = 8;

    /// <summary>Scale numerator (lora_alpha); the update is multiplied by Alpha / R.</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>Dropout applied to the adapter's input during training (lora_dropout), in [0, 1).</summary>
    public double Dropout { get; init; } = 0.05;

    /// <summary>Which projections to wrap in every layer (target_modules); any of <see cref="KnownTargets"/>.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "v_proj"];

    /// <summary>Alpha / R, the factor applied to B·A.</summary>
    public double Scaling => Alpha / R;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public LoraConfig Validate()
    {
        if (R < 1) throw new ArgumentOutOfRangeException(nameof(R), R, "The LoRA rank r must be at least 1.");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "lora_alpha must be a positive number.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "lora_dropout must be in [0, 1).");
        if (TargetModules is null || TargetModules.Count == 0)
            throw new ArgumentException("target_modules must name at least one projection.", nameof(TargetModules));
        foreach (string target in TargetModules)
            if (!KnownTargets.Contains(target))
                throw new ArgumentException($"Unknown LoRA target module \"{target}\"; choose among {string.Join(", ", KnownTargets)}.", nameof(TargetModules));
        if (TargetModules.Distinct().Count() != TargetModules.Count)
            throw new ArgumentException($"target_modules lists a projection twice: {string.Join(", ", TargetModules)}.", nameof(TargetModules));
        return this;
    }
}
