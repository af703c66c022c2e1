using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Readers;

/// <summary>What a reader does with a record that is malformed (missing field, empty text, wrong option count, …).</summary>
public enum BadRecordPolicy
{
    /// <summary>Throw a <see cref="DataFormatException"/> naming the file, the record and the problem (the default).</summary>
    Throw,
    /// <summary>Skip the record, count it in <see cref="DataReadResult{T}.Skipped"/> and log a warning.</summary>
    Skip,
}

/// <summary>Settings shared by all dataset readers.</summary>
public sealed record DataReadOptions
{
    /// <summary>What happens to a malformed record. A file that cannot be parsed at all (truncated Parquet, invalid
    /// UTF-8 in the middle of a JSON file) always throws, whatever the policy.</summary>
    public BadRecordPolicy BadRecords { get; init; } = BadRecordPolicy.Throw;

    /// <summary>Stop after this many valid records (a subset for quick runs); null reads everything.</summary>
    public int? MaxRecords { get; init; }

    /// <summary>Receives one warning per skipped record; null for no logging.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public DataReadOptions Validate()
    {
        if (MaxRecords is int m && m < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxRecords), m, "MaxRecords must be at least 1 (or null for all records).");
        return this;
    }
}

/// <summary>One record a reader skipped: a bad record under <see cref="BadRecordPolicy.Skip"/>, or one with nothing to train on.</summary>
/// <param name="Source">The file.</param>
/// <param name="Record">Where in the file ("line 7", "row 3", …).</param>
/// <param name="Problem">Why it was skipped.</param>
public sealed record SkippedRecord(string Source, string Record, string Problem)
{
    /// <inheritdoc />
    public override string ToString() => $"{Source}, {Record}: {Problem}";
}

/// <summary>
/// What a reader returns: the valid records and the ones it skipped: bad records under <see cref="BadRecordPolicy.Skip"/>,
/// and, under either policy, well-formed records with nothing to train on (a weight of 0, <see cref="NothingToTrainException"/>).
/// </summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="Records">The valid records, in file order.</param>
/// <param name="Skipped">The skipped records with the reason for each.</param>
public sealed record DataReadResult<T>(IReadOnlyList<T> Records, IReadOnlyList<SkippedRecord> Skipped);
