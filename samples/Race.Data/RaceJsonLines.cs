using System.Text.Json;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// Reads RACE as JSON Lines of the flat Hugging Face shape:
/// <c>{"example_id": "...", "article": "...", "question": "...", "options": ["..", "..", "..", ".."], "answer": "B"}</c>.
/// </summary>
/// <remarks>
/// Extra fields are ignored; a missing <c>example_id</c> becomes "line N". A line that is not an object, misses
/// article/question/options/answer, has a number of options other than four, an empty text or an answer outside
/// A–D is a bad record (<see cref="BadRecordPolicy"/>). Invalid UTF-8 always throws, naming the line.
/// </remarks>
public static class RaceJsonLines
{
    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static DataReadResult<RaceExample> Read(string path, DataReadOptions? options = null)
    {
        using FileStream stream = StrictText.Open(path);
        return Read(stream, path, options);
    }

    /// <summary>Reads JSON Lines from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<RaceExample> Read(Stream stream, string source, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return RecordReader.JsonLines<RaceExample>(stream, source, options, (root, line) =>
        {
            string id = root.TryGetProperty("example_id", out JsonElement idValue) && idValue.ValueKind == JsonValueKind.String
                ? idValue.GetString()! : $"line {line}";
            return [RaceExample.Create(id,
                StrictText.RequireString(root, "article"),
                StrictText.RequireString(root, "question"),
                StrictText.RequireStringArray(root, "options"),
                StrictText.RequireString(root, "answer"))];
        });
    }

    /// <summary>Writes <paramref name="examples"/> as JSON Lines of the flat Hugging Face shape (UTF-8, no BOM).</summary>
    public static void Write(string path, IEnumerable<RaceExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        using var writer = new StreamWriter(path, append: false, StrictText.Utf8);
        foreach (RaceExample e in examples)
        {
            writer.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["example_id"] = e.ExampleId, ["article"] = e.Article, ["question"] = e.Question,
                ["options"] = e.Options, ["answer"] = e.Answer,
            }));
        }
    }
}
