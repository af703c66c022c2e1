using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PromptLossWeight.Hub;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race.Reporting;
using Spectre.Console;

namespace PromptLossWeight.Samples.Race;

/// <summary>
/// The RACE prompt-loss-weight experiment. With no arguments it runs the embedded demonstration: a PLW sweep of a
/// small Llama trained from scratch on a synthetic RACE-shaped set, on the CPU, in a few minutes.
/// </summary>
public static class Program
{
    /// <summary>Parses the command line and runs the sweep; exit code 1 for bad data or options (message, no stack trace).</summary>
    public static int Main(string[] args)
    {
        var defaults = new RaceExperimentOptions();
        var model = new Option<string?>("--model") { Description = "HF Llama checkpoint: repo id in the Hugging Face cache (org/name[@revision]) or folder (config.json, *.safetensors, tokenizer.model); LoRA is trained on it. Default: a small Llama from scratch." };
        var data = new Option<string?>("--data") { Description = "RACE: HF dataset id (e.g. ehovy/race, from the hub or datasets cache), release folder (train|dev|test/high|middle), HF Parquet folder or file, JSON Lines, or release .txt. Default: built-in synthetic set." };
        var download = new Option<bool>("--download") { Description = "Download a --model or --data repo id that is not in the Hugging Face cache (HF_TOKEN for gated models, HF_ENDPOINT for a mirror)." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Hugging Face hub cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)." };
        var validation = new Option<string?>("--validation") { Description = "Validation data (default: the data's validation split, or a held-out fraction of a single file)." };
        var validationFraction = new Option<double>("--validation-fraction") { Description = "Fraction of a single file held out for validation.", DefaultValueFactory = _ => defaults.ValidationFraction };
        var config = new Option<RaceConfig>("--config") { Description = "RACE config: All, High or Middle.", DefaultValueFactory = _ => defaults.Config };
        var plw = new Option<string>("--plw") { Description = "Comma-separated prompt-loss weights, e.g. 1,0.5,0.2,0.1,0.01,0.", DefaultValueFactory = _ => "1,0.1,0" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per run.", DefaultValueFactory = _ => defaults.Epochs };
        var maxSteps = new Option<long?>("--max-steps") { Description = $"Optimizer steps per run (overrides --epochs; default {RaceExperimentOptions.SyntheticSteps} on the synthetic set)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Sequences per step.", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double?>("--lr") { Description = $"Peak learning rate (default {defaults.LearningRate} from scratch, 2e-4 with --model)." };
        var evalSteps = new Option<int?>("--eval-steps") { Description = "Evaluate every N steps (default: 16 evaluations per run)." };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank with --model.", DefaultValueFactory = _ => defaults.LoraRank };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => defaults.Device };
        var output = new Option<string>("--output") { Description = "Output folder.", DefaultValueFactory = _ => defaults.OutputDirectory };
        var maxExamples = new Option<int?>("--max-examples") { Description = "Use at most N training examples." };
        var maxEval = new Option<int?>("--max-eval-examples") { Description = "Use at most N validation examples.", DefaultValueFactory = _ => defaults.MaxEvalExamples };
        var maxLength = new Option<int?>("--max-length") { Description = "Longest sequence in tokens (articles are shortened to fit).", DefaultValueFactory = _ => defaults.MaxLength };
        var skipBad = new Option<bool>("--skip-bad-records") { Description = "Skip malformed records (counted) instead of stopping at the first." };
        var template = new Option<string?>("--chat-template") { Description = "llama-2, llama-3 or chatml (default: from the tokenizer)." };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for TorchSharp (default: 1 for the small model, whose runs go in parallel; TorchSharp's choice with --model)." };
        var hidden = new Option<int>("--hidden-size") { Description = "Width of the model trained from scratch.", DefaultValueFactory = _ => defaults.SmallModel.HiddenSize };
        var layers = new Option<int>("--layers") { Description = "Layers of the model trained from scratch.", DefaultValueFactory = _ => defaults.SmallModel.Layers };
        var heads = new Option<int>("--heads") { Description = "Attention heads of the model trained from scratch.", DefaultValueFactory = _ => defaults.SmallModel.Heads };
        var trainExamples = new Option<int>("--synthetic-examples") { Description = "Training examples of the synthetic set.", DefaultValueFactory = _ => defaults.Synthetic.TrainExamples };
        var facts = new Option<int>("--synthetic-facts") { Description = "Facts per synthetic article.", DefaultValueFactory = _ => defaults.Synthetic.FactsPerArticle };
        var fillers = new Option<int>("--synthetic-fillers") { Description = "Filler sentences per synthetic article.", DefaultValueFactory = _ => defaults.Synthetic.FillerSentences };
        var distractors = new Option<bool>("--synthetic-article-distractors") { Description = "Wrong options start with the other people's towns from the article (true/false).", DefaultValueFactory = _ => defaults.Synthetic.ArticleDistractors };
        var schedule = new Option<PromptLossWeight.Training.LearningRateScheduleKind>("--lr-schedule") { Description = "Constant, Linear or Cosine decay after warmup.", DefaultValueFactory = _ => defaults.LearningRateSchedule };
        var townCount = new Option<int>("--synthetic-towns") { Description = "Towns in the synthetic world (4 to 16).", DefaultValueFactory = _ => defaults.Synthetic.TownCount };
        var shuffle = new Option<bool>("--synthetic-shuffle-options") { Description = "Shuffle the options instead of listing them in the town list's order (true/false).", DefaultValueFactory = _ => defaults.Synthetic.ShuffleOptions };
        var parallel = new Option<int?>("--parallel") { Description = "PLW runs trained at the same time (default: all of them for the small model, 1 with --model)." };
        var pack = new Option<int?>("--pack") { Description = "Pack training examples into rows of N tokens (the batch size then counts rows); default: padded batches." };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => defaults.Seed };

        var root = new RootCommand("RACE prompt-loss-weight sweep: trains one run per PLW and reports completion loss, full loss and accuracy.")
        {
            model, data, download, cacheDir, validation, validationFraction, config, plw, epochs, maxSteps, batchSize, lr, evalSteps, loraRank, device, output,
            maxExamples, maxEval, maxLength, skipBad, template, seed, threads, hidden, layers, heads, trainExamples, facts, fillers, distractors, schedule, townCount, shuffle, parallel, pack,
        };
        root.SetAction(result =>
        {
            try
            {
                string? modelDir = result.GetValue(model);
                var options = defaults with
                {
                    ModelDirectory = modelDir,
                    DataPath = result.GetValue(data),
                    Hub = new HubOptions { AllowDownload = result.GetValue(download), CacheDirectory = result.GetValue(cacheDir) },
                    ValidationPath = result.GetValue(validation),
                    ValidationFraction = result.GetValue(validationFraction),
                    Config = result.GetValue(config),
                    PromptLossWeights = ParseWeights(result.GetValue(plw)!),
                    Epochs = result.GetValue(epochs),
                    MaxSteps = result.GetValue(maxSteps) ?? (result.GetValue(data) is null ? RaceExperimentOptions.SyntheticSteps : null),
                    BatchSize = result.GetValue(batchSize),
                    LearningRate = result.GetValue(lr) ?? (modelDir is null ? defaults.LearningRate : 2e-4),
                    EvalSteps = result.GetValue(evalSteps),
                    LoraRank = result.GetValue(loraRank),
                    Device = result.GetValue(device)!,
                    OutputDirectory = result.GetValue(output)!,
                    MaxExamples = result.GetValue(maxExamples),
                    MaxEvalExamples = result.GetValue(maxEval),
                    MaxLength = result.GetValue(maxLength),
                    SkipBadRecords = result.GetValue(skipBad),
                    PackedRowLength = result.GetValue(pack),
                    ChatTemplate = result.GetValue(template),
                    Seed = result.GetValue(seed),
                    LearningRateSchedule = result.GetValue(schedule),
                    Threads = result.GetValue(threads) ?? (modelDir is null ? 1 : null),
                    Parallelism = result.GetValue(parallel) ?? (modelDir is null ? int.MaxValue : 1),
                    SmallModel = defaults.SmallModel with
                    {
                        HiddenSize = result.GetValue(hidden), Layers = result.GetValue(layers), Heads = result.GetValue(heads),
                        IntermediateSize = 2 * result.GetValue(hidden),
                    },
                    Synthetic = defaults.Synthetic with
                    {
                        TrainExamples = result.GetValue(trainExamples), FactsPerArticle = result.GetValue(facts),
                        FillerSentences = result.GetValue(fillers), Seed = result.GetValue(seed),
                        ArticleDistractors = result.GetValue(distractors),
                        TownCount = result.GetValue(townCount), ShuffleOptions = result.GetValue(shuffle),
                    },
                };
                return Run(options.Validate());
            }
            catch (Exception e) when (e is DataFormatException or HubException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return root.Parse(args).Invoke();
    }

    /// <summary>
    /// Downloads the --model and --data repo ids that the caches lack, with a progress bar per file, and points the
    /// options at the snapshot folders.
    /// </summary>
    private static RaceExperimentOptions Download(RaceExperimentOptions options)
    {
        string? model = options.ModelDirectory, data = options.DataPath;
        bool needModel = HuggingFaceHub.IsRepoId(model)
            && HuggingFaceHub.FindCachedSnapshot(HubRepoId.Parse(model!), HubRepoType.Model, options.Hub) is var snapshot
            && (snapshot is null || !File.Exists(Path.Combine(snapshot, "config.json")));
        string configName = options.Config.ToString().ToLowerInvariant();
        bool needData = HuggingFaceHub.IsRepoId(data)
            && HuggingFaceHub.FindCachedSnapshot(HubRepoId.Parse(data!), HubRepoType.Dataset, options.Hub) is null
            && HuggingFaceHub.FindDatasetsArrowFiles(HubRepoId.Parse(data!), configName, "train", options.Hub).Count == 0;
        if (!needModel && !needData) return options;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bars = new Dictionary<string, ProgressTask>();
                var hub = options.Hub with
                {
                    Progress = new InlineProgress<HubDownloadProgress>(p =>
                    {
                        string key = $"{p.Repo}/{p.File}";
                        if (!bars.TryGetValue(key, out ProgressTask? bar))
                            bars[key] = bar = context.AddTask(Markup.Escape(key), maxValue: Math.Max(1, p.TotalBytes ?? p.BytesDone));
                        bar.Value = p.BytesDone;
                        if (p.Completed) bar.StopTask();
                    }),
                };
                if (needModel) model = HuggingFaceHub.ResolveModelFolder(model!, hub);
                if (needData)
                    data = HuggingFaceHub.ResolveDatasetFolder(data!, hub,
                        f => f.StartsWith(configName + "/", StringComparison.Ordinal) && f.EndsWith(".parquet", StringComparison.Ordinal));
            });
        return options with { ModelDirectory = model, DataPath = data };
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (Spectre's context is thread-safe).</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Parses "1,0.1,0" (invariant culture).</summary>
    public static IReadOnlyList<double> ParseWeights(string text)
    {
        var weights = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double w))
                throw new ArgumentException($"--plw: '{part}' is not a number (use e.g. 1,0.1,0).");
            weights.Add(w);
        }
        return weights;
    }

    private static int Run(RaceExperimentOptions options)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        AnsiConsole.MarkupLine("[bold]RACE prompt-loss-weight sweep[/]");
        if (options.Hub.DownloadsAllowed) options = Download(options);
        var experiment = new RaceExperiment(options, loggers);
        RaceExperimentResult result = AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context => experiment.Run(new SpectreProgress(context)));

        var table = new Table().Title("Validation results per PLW (value @ step; accuracy: answer letter among A–D, chance 0.25)");
        foreach (string header in SweepSummary.Headers) table.AddColumn(Markup.Escape(header));
        foreach (RunSummary s in result.Summaries) table.AddRow(SweepSummary.Cells(s, compact: true).Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"Rg of the data (answer letter / prompt, tokens): arithmetic mean {result.DatasetGenerationRatio.ArithmeticMean:G3}, geometric mean {result.DatasetGenerationRatio.GeometricMean:G3}")));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {result.ReportPath}, {result.CsvPath} and {result.PlotPaths.Count} plots in {Path.GetDirectoryName(result.PlotPaths[0])}"));
        return 0;
    }
}
