namespace PromptLossWeight.Readers;

/// <summary>
/// Reads prompt/completion pairs from JSON Lines or Parquet: a prompt and a completion field (names configurable through
/// <see cref="PromptCompletionFields"/>; other fields and columns are ignored) and an optional per-example weight.
/// </summary>
/// <remarks>
/// <para>JSON Lines: one JSON object per line; blank lines are ignored. A line that is not a JSON object, lacks a field,
/// has a non-string or empty (white-space) prompt or completion, or a weight field that is not a number, finite and ≥ 0
/// is a bad record (<see cref="BadRecordPolicy"/>), named by its line. Invalid UTF-8 always throws, naming the line.</para>
/// <para>Parquet: a file that cannot be parsed (truncated, not Parquet) or lacks a column throws a
/// <see cref="DataFormatException"/> naming the file. A row with a null, non-string or empty prompt or completion, or a
/// weight cell that is not a number, finite and ≥ 0, is a bad record, named by its 1-based row number; the weight column
/// is optional.</para>
/// <para>Either way a weight of 0 is a counted skip with a warning (<see cref="NothingToTrainException"/>).</para>
/// </remarks>
public static class PromptCompletionReader
{
    /// <summary>Reads the JSON Lines file at <paramref name="path"/>.</summary>
    public static DataReadResult<PromptCompletionExample> ReadJsonLines(string path, PromptCompletionFields? fields = null, DataReadOptions? options = null) =>
        FromFile(path, stream => ReadJsonLines(stream, path, fields, options));

    /// <summary>Reads JSON Lines from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<PromptCompletionExample> ReadJsonLines(Stream stream, string source, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        fields = (fields ?? new PromptCompletionFields()).Validate();
        return RecordReader.JsonLines<PromptCompletionExample>(stream, source, options, (record, _) =>
            [PromptCompletionFields.Example(StrictText.RequireString(record, fields.Prompt), StrictText.RequireString(record, fields.Completion),
                fields.Weight is null ? 1.0 : StrictText.OptionalWeight(record, fields.Weight))]);
    }

    /// <summary>Reads the Parquet file at <paramref name="path"/>.</summary>
    public static DataReadResult<PromptCompletionExample> ReadParquet(string path, PromptCompletionFields? fields = null, DataReadOptions? options = null) =>
        FromFile(path, stream => ReadParquet(stream, path, fields, options));

    /// <summary>Reads Parquet from <paramref name="stream"/> (must be seekable); <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<PromptCompletionExample> ReadParquet(Stream stream, string source, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        fields = (fields ?? new PromptCompletionFields()).Validate();
        return RecordReader.Parquet<PromptCompletionExample>(stream, source, [fields.Prompt, fields.Completion], options, row =>
            [PromptCompletionFields.Example(ParquetRows.RequireString(row, fields.Prompt), ParquetRows.RequireString(row, fields.Completion),
                fields.Weight is null ? 1.0 : ParquetRows.OptionalWeight(row, fields.Weight))]);
    }

    private static DataReadResult<PromptCompletionExample> FromFile(string path, Func<Stream, DataReadResult<PromptCompletionExample>> read)
    {
        using FileStream stream = StrictText.Open(path);
        return read(stream);
    }
}
