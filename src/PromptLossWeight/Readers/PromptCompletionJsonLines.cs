using System.Text.Json;

namespace PromptLossWeight.Readers;

/// <summary>
/// Reads prompt/completion pairs from JSON Lines: one JSON object per line with a prompt and a completion field
/// (names configurable through <see cref="PromptCompletionFields"/>).
/// </summary>
/// <remarks>
/// Blank lines are ignored; extra fields are ignored. A line that is not a JSON object, lacks a field, has a
/// non-string or empty (white-space) prompt or completion, or a weight field (<see cref="PromptCompletionFields.Weight"/>,
/// optional) that is not a number, finite and ≥ 0 is a bad record (<see cref="BadRecordPolicy"/>). A weight of 0 is a
/// counted skip with a warning (<see cref="NothingToTrainException"/>).
/// Invalid UTF-8 always throws, naming the line.
/// </remarks>
public static class PromptCompletionJsonLines
{
    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static DataReadResult<PromptCompletionExample> Read(string path, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        using FileStream stream = StrictText.Open(path);
        return Read(stream, path, fields, options);
    }

    /// <summary>Reads JSON Lines from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<PromptCompletionExample> Read(Stream stream, string source, PromptCompletionFields? fields = null, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        fields = (fields ?? new PromptCompletionFields()).Validate();
        return RecordReader.JsonLines<PromptCompletionExample>(stream, source, options, (record, _) =>
            [PromptCompletionFields.Example(StrictText.RequireString(record, fields.Prompt), StrictText.RequireString(record, fields.Completion),
                fields.Weight is null ? 1.0 : StrictText.OptionalWeight(record, fields.Weight))]);
    }
}
