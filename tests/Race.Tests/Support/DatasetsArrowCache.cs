using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Support;

/// <summary>
/// Writes RACE into a <c>datasets</c> cache as <c>datasets.load_dataset("org/name", config)</c> leaves it:
/// <c>{root}/{org}___{name}/{config}/0.0.0/{hash}/</c> with <c>dataset_info.json</c> and one Arrow IPC stream per
/// split, <c>{name}-{split}.arrow</c>, whose schema carries the "huggingface" features metadata.
/// </summary>
internal static class DatasetsArrowCache
{
    public const string Features =
        "{\"info\":{\"features\":{\"example_id\":{\"dtype\":\"string\",\"_type\":\"Value\"},\"article\":{\"dtype\":\"string\",\"_type\":\"Value\"}," +
        "\"answer\":{\"dtype\":\"string\",\"_type\":\"Value\"},\"question\":{\"dtype\":\"string\",\"_type\":\"Value\"}," +
        "\"options\":{\"feature\":{\"dtype\":\"string\",\"_type\":\"Value\"},\"_type\":\"Sequence\"}}}}";

    /// <summary>The folder of one config and cache hash.</summary>
    public static string Folder(string root, string repo, string config, string hash = "3c6ce07bd5e3ddcd") =>
        Path.Combine(root, repo.Replace("/", "___"), config, "0.0.0", hash);

    /// <summary>Writes <paramref name="splits"/> (split name → examples) into the cache and returns the folder.</summary>
    public static string Write(string root, string repo, string config, IReadOnlyDictionary<string, RaceExample[]> splits, int rowsPerBatch = 2)
    {
        string name = repo[(repo.IndexOf('/') + 1)..];
        string folder = Folder(root, repo, config);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "dataset_info.json"),
            "{\"builder_name\":\"parquet\",\"config_name\":\"" + config + "\",\"dataset_name\":\"" + name + "\",\"splits\":{" +
            string.Join(",", splits.Select(s => $"\"{s.Key}\":{{\"name\":\"{s.Key}\",\"num_examples\":{s.Value.Length},\"dataset_name\":\"{name}\"}}")) + "}}");
        foreach (var (split, examples) in splits)
            WriteStream(Path.Combine(folder, $"{name}-{split}.arrow"), examples, rowsPerBatch);
        return folder;
    }

    /// <summary>One Arrow IPC stream (or, with <paramref name="fileFormat"/>, an IPC file) in record batches of <paramref name="rowsPerBatch"/> rows.</summary>
    public static void WriteStream(string path, IReadOnlyList<RaceExample> examples, int rowsPerBatch, bool fileFormat = false)
    {
        var schema = new Schema.Builder()
            .Field(f => f.Name("example_id").DataType(StringType.Default))
            .Field(f => f.Name("article").DataType(StringType.Default))
            .Field(f => f.Name("answer").DataType(StringType.Default))
            .Field(f => f.Name("question").DataType(StringType.Default))
            .Field(f => f.Name("options").DataType(new ListType(StringType.Default)))
            .Metadata("huggingface", Features)
            .Build();
        using FileStream stream = File.Create(path);
        using ArrowStreamWriter writer = fileFormat ? new ArrowFileWriter(stream, schema) : new ArrowStreamWriter(stream, schema);
        foreach (var chunk in examples.Chunk(rowsPerBatch))
        {
            var options = new ListArray.Builder(StringType.Default);
            var optionValues = (StringArray.Builder)options.ValueBuilder;
            foreach (RaceExample e in chunk)
            {
                options.Append();
                foreach (string option in e.Options) optionValues.Append(option);
            }
            IArrowArray[] columns =
            [
                Strings(chunk.Select(e => e.ExampleId)),
                Strings(chunk.Select(e => e.Article)),
                Strings(chunk.Select(e => e.Answer)),
                Strings(chunk.Select(e => e.Question)),
                options.Build(),
            ];
            writer.WriteRecordBatch(new RecordBatch(schema, columns, chunk.Length));
        }
        writer.WriteEnd();
    }

    private static StringArray Strings(IEnumerable<string?> values)
    {
        var builder = new StringArray.Builder();
        foreach (string? v in values)
        {
            if (v is null) builder.AppendNull();
            else builder.Append(v);
        }
        return builder.Build();
    }
}
