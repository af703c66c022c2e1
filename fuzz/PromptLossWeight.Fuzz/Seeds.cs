using System.Text.Json;
using Parquet.Serialization;
using PromptLossWeight.Samples.Race.Data;

namespace PromptLossWeight.Fuzz;

/// <summary>Writes a small valid input for every fuzz target, the starting corpus the fuzzer mutates.</summary>
public static class Seeds
{
    private static readonly RaceExample[] Examples =
    [
        new("high1.txt", "Tom lives in Paris . He likes tea .", "Where does Tom live ?", ["Rome", "Paris", "Oslo", "Lima"], "B"),
        new("middle2.txt", "Ann has a red bike .", "What colour is the bike ?", ["blue", "green", "black", "red"], "D"),
    ];

    /// <summary>Writes DIR/TARGET/seed-1 for each target.</summary>
    public static void Write(string root)
    {
        string Dir(string target) => Directory.CreateDirectory(Path.Combine(root, target)).FullName;
        File.WriteAllText(Path.Combine(Dir("jsonl"), "seed-1"), "{\"prompt\":\"Say hi\",\"completion\":\"hi\"}\n{\"prompt\":\"Count\",\"completion\":\"1 2 3\"}\n");
        var pairs = new[] { new Pair { prompt = "Say hi", completion = "hi" }, new Pair { prompt = "Count", completion = "1 2 3" } };
        ParquetSerializer.SerializeAsync(pairs, Path.Combine(Dir("parquet"), "seed-1")).GetAwaiter().GetResult();
        RaceJsonLines.Write(Path.Combine(Dir("race-jsonl"), "seed-1"), Examples);
        RaceParquet.Write(Path.Combine(Dir("race-parquet"), "seed-1"), Examples);
        File.WriteAllText(Path.Combine(Dir("race-release"), "seed-1"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["answers"] = new[] { "B", "A" },
            ["options"] = new[] { new[] { "Rome", "Paris", "Oslo", "Lima" }, new[] { "tea", "milk", "rice", "soup" } },
            ["questions"] = new[] { "Where does Tom live ?", "What does Tom like ?" },
            ["article"] = "Tom lives in Paris . He likes tea .",
            ["id"] = "high1.txt",
        }));
        File.WriteAllText(Path.Combine(Dir("chat-jsonl"), "seed-1"),
            "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Say hi\"},{\"role\":\"assistant\",\"content\":\"hi\"}]}\n" +
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Count\"},{\"role\":\"assistant\",\"content\":\"1 2 3\"},{\"role\":\"user\",\"content\":\"And on?\"},{\"role\":\"assistant\",\"content\":\"4 5\"}]}\n");
    }

#pragma warning disable IDE1006 // Column names as the reader expects them.
    private sealed class Pair
    {
        public string prompt { get; set; } = "";
        public string completion { get; set; } = "";
    }
#pragma warning restore IDE1006
}
