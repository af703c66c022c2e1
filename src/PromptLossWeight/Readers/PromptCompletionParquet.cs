namespace PromptLossWeight.Readers;

/// <summary>
/// Reads prompt/completion pairs from a Parquet file with a prompt column and a completion column (names
/// configurable through <see cref="PromptCompletionFields"/>; other columns are ignored).
/// </summary>
/// <remarks>
/// A file that cannot be parsed (truncated, not Parquet) or lacks a column throws a <see cref="DataFormatException"/>
/// naming the file. A row with a null, non-string or empty (white-space) prompt or completion is a bad record
/// (<see cref="BadRecordPolicy"/>), named by its 1-based row number.
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
            [new PromptCompletionExample(ParquetRows.RequireString(row, fields.Prompt), ParquetRows.RequireString(row, fields.Completion))]);
    }
}
