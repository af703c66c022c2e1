namespace PromptLossWeight.Readers;

/// <summary>
/// Reads prompt/completion pairs from a Parquet file with a prompt column and a completion column (names
/// configurable through <see cref="PromptCompletionFields"/>; other columns are ignored).
/// </summary>
/// <remarks>
/// A file that cannot be parsed (truncated, not Parquet) or lacks a column throws a <see cref="DataFormatException"/>
/// naming the file. A row with a null, non-string or empty (white-space) prompt or completion is a bad record
/// (<see cref="BadRecordPolicy"/>), named by its 1-based row number. The weight column
/// (<see cref="PromptCompletionFields.Weight"/>) is optional: when the file has it, each cell must be a number, finite
/// and ≥ 0 (else the row is bad), and a weight of 0 is a counted skip with a warning.
/// </remarks>
public static class PromptCompletionParquet
{
    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static DataReadResult<PromptCompletionExample> Read(string path, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        using FileStream stream = StrictText.Open(path);
        return Read(stream, path, fields, options);
    }

    /// <summary>Reads Parquet from <paramref name="stream"/> (must be seekable); <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<PromptCompletionExample> Read(Stream stream, string source, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        fields = (fields ?? new PromptCompletionFields()).Validate();
        return RecordReader.Parquet<PromptCompletionExample>(stream, source, [fields.Prompt, fields.Completion], options, row =>
            [PromptCompletionFields.Example(ParquetRows.RequireString(row, fields.Prompt), ParquetRows.RequireString(row, fields.Completion),
                fields.Weight is null ? 1.0 : ParquetRows.OptionalWeight(row, fields.Weight))]);
    }
}
