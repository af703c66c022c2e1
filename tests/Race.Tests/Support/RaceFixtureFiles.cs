using System.Text.Json;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race.Synthetic;

namespace Race.Tests.Support;

/// <summary>Writes synthetic RACE examples in each of the three on-disk formats.</summary>
internal static class RaceFixtureFiles
{
    public static IReadOnlyList<RaceExample> Examples(int count, int seed = 5) =>
        SyntheticRaceGenerator.Generate(new SyntheticRaceOptions { TrainExamples = count, ValidationExamples = 1, FillerSentences = 1, Seed = seed }).Train
            .Select((e, i) => e with { ExampleId = (i % 2 == 0 ? "high" : "middle") + i + ".txt" }).ToList();

    public static string Write(string format, string dir, IReadOnlyList<RaceExample> examples)
    {
        switch (format)
        {
            case "jsonl":
                string jsonl = Path.Combine(dir, "race.jsonl");
                RaceJsonLines.Write(jsonl, examples);
                return jsonl;
            case "parquet":
                string parquet = Path.Combine(dir, "race.parquet");
                RaceParquet.Write(parquet, examples);
                return parquet;
            default:
                string root = Path.Combine(dir, "RACE");
                foreach (var (split, part) in new[] { ("train", examples.Skip(examples.Count / 4)), ("dev", examples.Take(examples.Count / 4)) })
                    foreach (RaceExample e in part)
                        WriteReleaseFile(root, split, e.ExampleId, e.Article, [(e.Question, e.Options.ToArray(), e.Answer)]);
                return root;
        }
    }

    public static string WriteReleaseFile(string root, string split, string id, string article, IEnumerable<(string Q, string[] O, string A)> questions)
    {
        string level = id.StartsWith("high", StringComparison.Ordinal) ? "high" : "middle";
        string dir = Path.Combine(root, split, level);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, id);
        File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["answers"] = questions.Select(q => q.A).ToArray(),
            ["options"] = questions.Select(q => q.O).ToArray(),
            ["questions"] = questions.Select(q => q.Q).ToArray(),
            ["article"] = article,
            ["id"] = id,
        }));
        return path;
    }
}
