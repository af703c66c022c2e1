using Parquet.Serialization;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// Reads RACE from a Parquet file of the Hugging Face dataset: columns <c>example_id</c>, <c>article</c>,
/// <c>question</c>, <c>options</c> (a list of four strings) and <c>answer</c> ("A".."D"); other columns are ignored.
/// </summary>
/// <remarks>
/// A damaged file or a missing column throws a <see cref="DataFormatException"/> naming the file. A row with a null or
/// empty text, a number of options other than four or an answer outside A–D is a bad record (<see cref="BadRecordPolicy"/>),
/// named by its 1-based row number.
/// </remarks>
public static class RaceParquet
{
    /// <summary>The columns a RACE Parquet file must have.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["example_id", "article", "question", "options", "answer"];

    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static DataReadResult<RaceExample> Read(string path, DataReadOptions? options = null)
    {
        using FileStream stream = StrictText.Open(path);
        return Read(stream, path, options);
    }

    /// <summary>Reads Parquet from <paramref name="stream"/> (must be seekable); <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<RaceExample> Read(Stream stream, string source, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return RecordReader.Parquet<RaceExample>(stream, source, Columns, options, row => [RaceExample.Create(
            ParquetRows.RequireString(row, "example_id"),
            ParquetRows.RequireString(row, "article"),
            ParquetRows.RequireString(row, "question"),
            ParquetRows.RequireStringList(row, "options"),
            ParquetRows.RequireString(row, "answer"))]);
    }

    /// <summary>Writes <paramref name="examples"/> as a Parquet file with the Hugging Face columns.</summary>
    public static void Write(string path, IEnumerable<RaceExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var rows = examples.Select(e => new Row
        {
            example_id = e.ExampleId, article = e.Article, question = e.Question, options = e.Options.ToList(), answer = e.Answer,
        }).ToList();
        ParquetSerializer.SerializeAsync(rows, path).GetAwaiter().GetResult();
    }

#pragma warning disable IDE1006 // Column names as in the Hugging Face dataset.
    private sealed class Row
    {
        public string example_id { get; set; } = "";
        public string article { get; set; } = "";
        public string question { get; set; } = "";
        public List<string> options { get; set; } = [];
        public string answer { get; set; } = "";
    }
#pragma warning restore IDE1006
}
