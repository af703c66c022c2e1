using System.CommandLine;
using System.Globalization;
using Microsoft.ML.Tokenizers;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Samples.DatasetStats;

/// <summary>
/// Generation-ratio statistics for a prompt/completion dataset (JSON Lines, Parquet or RACE in any of its formats):
/// prints the Rg table and writes per-example ratios (CSV), the table (markdown) and histograms with linear and log
/// x-axes (PNG).
/// </summary>
public static class Program
{
    /// <summary>
    /// Parses the command line and runs. Every failure (bad options or data, I/O, an unreadable tokenizer) ends in one line on
    /// standard error naming the cause, and exit code 1; <c>--verbose</c> prints the stack trace before that line.
    /// </summary>
    public static int Main(string[] args)
    {
        var path = new Argument<string>("path") { Description = "A .jsonl or .parquet file of prompt/completion pairs, or RACE (folder, .parquet, .jsonl, release .txt)." };
        var format = new Option<string>("--format") { Description = "auto, jsonl, parquet or race.", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong("auto", "jsonl", "parquet", "race");
        var promptField = new Option<string>("--prompt-field") { Description = "Prompt field or column name.", DefaultValueFactory = _ => "prompt" };
        var completionField = new Option<string>("--completion-field") { Description = "Completion field or column name.", DefaultValueFactory = _ => "completion" };
        var by = new Option<string>("--by") { Description = "Measure lengths in tokens (see --tokenizer) or chars.", DefaultValueFactory = _ => "tokens" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer for --by tokens: a tokenizer.model (Llama-2 SentencePiece or Llama-3 tiktoken) or a folder holding one. Default: GPT-2." };
        by.AcceptOnlyFromAmong("tokens", "chars");
        var config = new Option<RaceConfig>("--config") { Description = "RACE config: All, High or Middle.", DefaultValueFactory = _ => RaceConfig.All };
        var split = new Option<RaceSplit>("--split") { Description = "RACE split: Train, Validation or Test.", DefaultValueFactory = _ => RaceSplit.Train };
        var max = new Option<int?>("--max") { Description = "Read at most this many examples." };
        var bins = new Option<int>("--bins") { Description = "Histogram bins.", DefaultValueFactory = _ => 50 };
        var skipBad = new Option<bool>("--skip-bad-records") { Description = "Skip malformed records (counted) instead of stopping at the first." };
        var output = new Option<string>("--output") { Description = "Folder for rg.csv, rg_stats.md and the PNG histograms.", DefaultValueFactory = _ => "dataset-stats" };
        var verbose = CommandLineFailure.VerboseOption();

        var root = new RootCommand("Generation-ratio (Rg = completion length / prompt length) statistics of a dataset.")
        {
            path, format, promptField, completionField, by, tokenizer, config, split, max, bins, skipBad, output, verbose,
        };
        root.SetAction(result => CommandLineFailure.Run(() =>
        {
            int? maxRecords = result.GetValue(max);
            if (maxRecords is < 1) throw new ArgumentException($"--max must be >= 1; got {maxRecords}.");
            int binCount = result.GetValue(bins);
            if (binCount is < 1 or > 10_000) throw new ArgumentException($"--bins must be between 1 and 10000; got {binCount}.");
            string outputDir = result.GetValue(output)!;
            if (File.Exists(outputDir)) throw new ArgumentException($"--output {outputDir} is a file; it must name a folder.");
            return Run(result.GetValue(path)!, result.GetValue(format)!, new PromptCompletionFields(result.GetValue(promptField)!, result.GetValue(completionField)!),
                result.GetValue(by)!, result.GetValue(tokenizer), result.GetValue(config), result.GetValue(split),
                new DataReadOptions { MaxRecords = maxRecords, BadRecords = result.GetValue(skipBad) ? BadRecordPolicy.Skip : BadRecordPolicy.Throw },
                binCount, outputDir);
        }, result.GetValue(verbose), Console.Error));
        return CommandLineFailure.ParseAndInvoke(root, args, Console.Error);
    }

    /// <summary>Reads the dataset, computes and writes the statistics. Returns 0.</summary>
    public static int Run(string path, string format, PromptCompletionFields fields, string by, string? tokenizer, RaceConfig config, RaceSplit split,
        DataReadOptions options, int bins, string output)
    {
        (IReadOnlyList<PromptCompletionExample> examples, IReadOnlyList<SkippedRecord> skipped, string kind) = Load(path, format, fields, config, split, options);
        if (examples.Count == 0) throw new DataFormatException(path, null, "holds no valid examples");
        (Func<string, int> length, string unit) = by == "chars" ? (GenerationRatio.Characters, "characters") : Tokens(tokenizer);
        double[] ratios = GenerationRatio.PerExample(examples, length);
        var stats = GenerationRatioStatistics.From(ratios);

        Directory.CreateDirectory(output);
        File.WriteAllLines(Path.Combine(output, "rg.csv"),
            ratios.Select((r, i) => $"{i},{r.ToString("R", CultureInfo.InvariantCulture)}").Prepend("example,rg"));
        string table = stats.ToMarkdown();
        File.WriteAllText(Path.Combine(output, "rg_stats.md"),
            $"# Generation ratio of {Path.GetFileName(Path.TrimEndingDirectorySeparator(path))}\n\n{kind}, lengths in {unit}, {skipped.Count} records skipped.\n\n{table}\n" +
            "![linear](rg_histogram_linear.png)\n\n![log](rg_histogram_log.png)\n");
        RgPlots.SaveHistogram(Path.Combine(output, "rg_histogram_linear.png"), ratios, stats, bins, logScale: false, $"Rg ({unit})");
        if (ratios.Any(r => r > 0))
            RgPlots.SaveHistogram(Path.Combine(output, "rg_histogram_log.png"), ratios, stats, bins, logScale: true, $"Rg ({unit}), log scale");

        Console.WriteLine($"{path}: {kind}, {examples.Count} examples ({skipped.Count} skipped), lengths in {unit}");
        Console.WriteLine(table);
        Console.WriteLine($"wrote {Path.Combine(output, "rg.csv")}, rg_stats.md and the histograms");
        return 0;
    }

    /// <summary>A token counter: GPT-2 by default, or a Llama tokenizer.model (SentencePiece, else Llama-3 tiktoken).</summary>
    private static (Func<string, int>, string) Tokens(string? path)
    {
        if (path is null) return (GenerationRatio.Tokens(TiktokenTokenizer.CreateForModel("gpt2")), "GPT-2 tokens");
        string file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.model") : path;
        if (!File.Exists(file)) throw new ArgumentException($"--tokenizer {path}: no tokenizer.model found.");
        HfTokenizer chat;
        try
        {
            chat = TokenizerLoader.LoadFile(file);   // SentencePiece or tiktoken, told apart by content
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new ArgumentException($"--tokenizer {file}: {e.Message}", e);
        }
        return (GenerationRatio.Tokens(text => chat.Encode(text)), $"tokens of {Path.GetFileName(file)} ({chat.Kind})");
    }

    private static (IReadOnlyList<PromptCompletionExample>, IReadOnlyList<SkippedRecord>, string) Load(
        string path, string format, PromptCompletionFields fields, RaceConfig config, RaceSplit split, DataReadOptions options)
    {
        if (format == "auto") format = LooksLikeRace(path, config, split) ? "race" : RaceDataset.DetectFormat(path) == RaceFormat.Parquet ? "parquet" : "jsonl";
        switch (format)
        {
            case "race":
                var race = RaceDataset.Load(path, config, split, options);
                return (race.Records.Select(RacePrompt.Render).ToList(), race.Skipped, "RACE (rendered prompt, answer letter)");
            case "parquet":
                var pq = PromptCompletionReader.ReadParquet(path, fields, options);
                return (pq.Records, pq.Skipped, "prompt/completion Parquet");
            default:
                var jl = PromptCompletionReader.ReadJsonLines(path, fields, options);
                return (jl.Records, jl.Skipped, "prompt/completion JSON Lines");
        }
    }

    private static bool LooksLikeRace(string path, RaceConfig config, RaceSplit split)
    {
        if (Directory.Exists(path) || Path.GetExtension(path).Equals(".txt", StringComparison.OrdinalIgnoreCase)) return true;
        try
        {
            return RaceDataset.Load(path, config, split, new DataReadOptions { MaxRecords = 1 }).Records.Count > 0;
        }
        catch (DataFormatException)
        {
            return false;
        }
    }
}
