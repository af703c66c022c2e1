using System.Text.Json;
using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Support;

/// <summary>Small RACE fixtures written in each of the three formats.</summary>
internal static class RaceFixtures
{
    public static RaceExample[] Examples { get; } =
    [
        new("high1.txt", "Tom lives in Paris. He likes tea.", "Where does Tom live?", ["Rome", "Paris", "Oslo", "Lima"], "B"),
        new("high1.txt", "Tom lives in Paris. He likes tea.", "What does Tom like?", ["tea", "milk", "rice", "soup"], "A"),
        new("middle7.txt", "Ann has a red bike.", "What colour is the bike?", ["blue", "green", "black", "red"], "D"),
    ];

    /// <summary>One release file as the original RACE stores it (questions of one article together).</summary>
    public static string ReleaseJson(string id, string article, IEnumerable<(string Q, string[] O, string A)> questions) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["answers"] = questions.Select(q => q.A).ToArray(),
            ["options"] = questions.Select(q => q.O).ToArray(),
            ["questions"] = questions.Select(q => q.Q).ToArray(),
            ["article"] = article,
            ["id"] = id,
        });

    /// <summary>Writes <see cref="Examples"/> as the original release under <paramref name="root"/> (train and dev).</summary>
    public static void WriteRelease(string root)
    {
        foreach (string split in new[] { "train", "dev" })
        {
            foreach (var group in Examples.GroupBy(e => e.ExampleId))
            {
                string level = group.Key.StartsWith("high", StringComparison.Ordinal) ? "high" : "middle";
                string dir = Path.Combine(root, split, level);
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, group.Key),
                    ReleaseJson(group.Key, group.First().Article, group.Select(e => (e.Question, e.Options.ToArray(), e.Answer))));
            }
        }
    }

    /// <summary>A JSON Lines record of the flat shape, built from raw JSON values (to write malformed records).</summary>
    public static string FlatLine(string article = "\"An article.\"", string question = "\"A question?\"",
        string options = "[\"a\",\"b\",\"c\",\"d\"]", string answer = "\"C\"", string id = "\"high9.txt\"") =>
        $"{{\"example_id\":{id},\"article\":{article},\"question\":{question},\"options\":{options},\"answer\":{answer}}}";
}
