using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Masking;

/// <summary>How <see cref="MaskBuilder"/> shortens a prompt that does not fit in <see cref="MaskBuilderOptions.MaxLength"/>.</summary>
public enum PromptTruncation
{
    /// <summary>Drop prompt tokens from the left (the oldest tokens), keeping a leading BOS.</summary>
    Left,
    /// <summary>Drop tokens from the end of the parts marked as context (e.g. an article); then from the left.</summary>
    ContextFirst,
}

/// <summary>What <see cref="MaskBuilder"/> does when the completion alone (plus BOS/EOS) does not fit.</summary>
public enum CompletionOverflow
{
    /// <summary>Throw an <see cref="ArgumentException"/> naming the lengths.</summary>
    Error,
    /// <summary>Skip the example and count it in <see cref="MaskBuilder.Skipped"/>.</summary>
    Skip,
}

/// <summary>Settings for <see cref="MaskBuilder"/>.</summary>
public sealed record MaskBuilderOptions
{
    /// <summary>Token id prepended to every sequence, or null for none.</summary>
    public long? BosId { get; init; }

    /// <summary>Token id appended after the completion (and counted as completion), or null for none.</summary>
    public long? EosId { get; init; }

    /// <summary>Maximum sequence length in tokens, or null for no limit.</summary>
    public int? MaxLength { get; init; }

    /// <summary>How an over-long prompt is shortened. The completion is never cut.</summary>
    public PromptTruncation Truncation { get; init; } = PromptTruncation.Left;

    /// <summary>What happens when the completion itself does not fit.</summary>
    public CompletionOverflow Overflow { get; init; } = CompletionOverflow.Error;

    /// <summary>Receives a warning for every example skipped because its completion has data weight 0; null for none.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public MaskBuilderOptions Validate()
    {
        if (MaxLength is int m && m < 2)
            throw new ArgumentOutOfRangeException(nameof(MaxLength), m, "MaxLength must be at least 2 (a next-token loss needs two tokens).");
        return this;
    }
}
