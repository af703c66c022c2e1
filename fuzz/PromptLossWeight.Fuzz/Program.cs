using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using SharpFuzz;

namespace PromptLossWeight.Fuzz;

/// <summary>
/// Fuzz targets for the dataset parsers. Each target feeds the input bytes to one reader under both bad-record
/// policies; a <see cref="DataFormatException"/> is the expected answer to bad input, any other exception (or a
/// hang) is a finding. Usage: <c>PromptLossWeight.Fuzz TARGET [--afl]</c> (libFuzzer by default).
/// </summary>
public static class Program
{
    /// <summary>The targets, by name: each parses one input.</summary>
    public static IReadOnlyDictionary<string, Action<byte[], DataReadOptions>> Targets { get; } =
        new Dictionary<string, Action<byte[], DataReadOptions>>
        {
            ["jsonl"] = (b, o) => PromptCompletionReader.ReadJsonLines(new MemoryStream(b), "input", options: o),
            ["parquet"] = (b, o) => PromptCompletionReader.ReadParquet(new MemoryStream(b), "input", options: o),
            ["race-jsonl"] = (b, o) => RaceJsonLines.Read(new MemoryStream(b), "input", o),
            ["race-parquet"] = (b, o) => RaceParquet.Read(new MemoryStream(b), "input", o),
            ["race-release"] = (b, o) => RaceOriginalRelease.ReadFile(new MemoryStream(b), "input", o),
            ["chat-jsonl"] = (b, o) => ChatJsonLines.Read(new MemoryStream(b), "input", options: o),
        };

    /// <summary>
    /// Runs the target named by the first argument under libFuzzer, or AFL with <c>--afl</c>;
    /// <c>seeds DIR</c> writes one valid input per target into DIR/TARGET/ as a starting corpus.
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "seeds")
        {
            Seeds.Write(args[1]);
            return 0;
        }
        if (args.Length == 0 || !Targets.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: PromptLossWeight.Fuzz TARGET [--afl] | seeds DIR   (targets: {string.Join(", ", Targets.Keys)})");
            return 2;
        }
        if (args.Contains("--afl"))
            Fuzzer.OutOfProcess.Run(stream =>
            {
                var copy = new MemoryStream();
                stream.CopyTo(copy);
                Parse(target, copy.ToArray());
            });
        else
            Fuzzer.LibFuzzer.Run(span => Parse(target, span.ToArray()));
        return 0;
    }

    /// <summary>Parses <paramref name="input"/> with both policies, letting only <see cref="DataFormatException"/> through silently.</summary>
    public static void Parse(Action<byte[], DataReadOptions> target, byte[] input)
    {
        foreach (var policy in new[] { BadRecordPolicy.Throw, BadRecordPolicy.Skip })
        {
            try
            {
                target(input, new DataReadOptions { BadRecords = policy });
            }
            catch (DataFormatException)
            {
            }
        }
    }
}
