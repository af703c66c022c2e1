using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PromptLossWeight.Distributed;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race.Reporting;
using Spectre.Console;

namespace PromptLossWeight.Samples.Race;

/// <summary>
/// The RACE prompt-loss-weight experiment. With no arguments it runs the embedded demonstration on the CPU: a small
/// Llama pretrained once on a reading corpus (cached in the output folder), then fine-tuned once per PLW on a
/// synthetic RACE-shaped set. A re-run on the same output folder resumes; --overwrite starts fresh.
/// </summary>
public static class Program
{
    /// <summary>
    /// Parses the command line and runs the sweep. Every failure (bad options or data, I/O, a checkpoint that does not fit,
    /// training that diverged) ends in one line on standard error naming the cause, and exit code 1; <c>--verbose</c>
    /// prints the stack trace before that line.
    /// </summary>
    public static int Main(string[] args)
    {
        var defaults = new RaceExperimentOptions();
        var model = new Option<string?>("--model") { Description = "HF checkpoint (llama, mistral, qwen2, qwen3, gemma2, gemma3_text): repo id in the Hugging Face cache (org/name[@revision]) or folder (config.json, *.safetensors, tokenizer.model or tokenizer.json); LoRA is trained on it. Default: a small Llama from scratch." };
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
        var ropeTheta = new Option<double>("--rope-theta") { Description = "RoPE base (rope_theta) of the model trained from scratch.", DefaultValueFactory = _ => defaults.SmallModel.RopeTheta };
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
        var pretrainSteps = new Option<long>("--pretrain-steps") { Description = "Pretraining steps of the small model on the reading corpus before the sweep (0: start from random weights). Cached in the output folder.", DefaultValueFactory = _ => defaults.Pretraining.Steps };
        var pretrainLr = new Option<double>("--pretrain-lr") { Description = "Peak learning rate of the pretraining.", DefaultValueFactory = _ => defaults.Pretraining.LearningRate };
        var pretrainBatch = new Option<int>("--pretrain-batch-size") { Description = "Documents per pretraining step.", DefaultValueFactory = _ => defaults.Pretraining.BatchSize };
        var pretrainQuestions = new Option<int>("--pretrain-questions") { Description = "Free-form questions after each pretraining article.", DefaultValueFactory = _ => defaults.Pretraining.Corpus.QuestionsPerArticle };
        var pretrainDistinct = new Option<bool>("--pretrain-distinct-questions") { Description = "Questions of a pretraining article never repeat (true/false).", DefaultValueFactory = _ => defaults.Pretraining.Corpus.DistinctQuestions };
        var pretrainReverse = new Option<bool>("--pretrain-reverse-questions") { Description = "Pretraining articles also ask from the word back to the person (\"Who lives in TOWN ?\") (true/false).", DefaultValueFactory = _ => defaults.Pretraining.Corpus.ReverseQuestions };
        var pretrainDocuments = new Option<int>("--pretrain-documents") { Description = "Training documents of the reading corpus.", DefaultValueFactory = _ => defaults.Pretraining.Corpus.Documents };
        var pretrainFacts = new Option<int>("--pretrain-min-facts") { Description = "Fewest facts per pretraining article (articles have this many up to --synthetic-facts).", DefaultValueFactory = _ => defaults.Pretraining.Corpus.MinFactsPerArticle };
        var pretrainTowns = new Option<int>("--pretrain-towns") { Description = "Towns of the pretraining world.", DefaultValueFactory = _ => defaults.Pretraining.Corpus.TownCount };
        var pretrainEvals = new Option<int>("--pretrain-evaluations") { Description = "Evaluations of free-form retrieval during the pretraining.", DefaultValueFactory = _ => defaults.Pretraining.Evaluations };
        var pretrainThreads = new Option<int?>("--pretrain-threads") { Description = "CPU threads for the pretraining (default: every core)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Remove an earlier sweep in the output folder (runs, pretraining cache, report) and start fresh." };
        var resume = new Option<bool>("--resume") { Description = "Resume an earlier sweep in the output folder (the default): reuse the cached pretraining, continue each run from its latest checkpoint." };
        var preset = new Option<string>("--preset") { Description = "auto (gpu when --device finds CUDA, else cpu), cpu (the embedded default), gpu (bigger model, more steps, the article's PLW grid) or paper (RACE Parquet + Llama-2-7B + LoRA, see the README). Flags override it.", DefaultValueFactory = _ => "auto" };
        var distributed = new Option<bool>("--distributed") { Description = "Train data-parallel as one process of a run started by mpirun, torchrun-style RANK/WORLD_SIZE variables or srun: NCCL on GPUs (one per process), MPI on CPUs. The device is the launcher's; rank 0 writes the output." };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => defaults.Seed };
        var verbose = CommandLineFailure.VerboseOption();

        var root = new RootCommand("RACE prompt-loss-weight sweep: trains one run per PLW and reports completion loss, full loss and accuracy.")
        {
            model, data, download, cacheDir, validation, validationFraction, config, plw, epochs, maxSteps, batchSize, lr, evalSteps, loraRank, device, output,
            maxExamples, maxEval, maxLength, skipBad, template, seed, threads, hidden, layers, heads, ropeTheta, trainExamples, facts, fillers, distractors, schedule, townCount, shuffle, parallel, pack, verbose,
            pretrainSteps, pretrainLr, pretrainBatch, pretrainQuestions, pretrainDistinct, pretrainReverse, pretrainDocuments, pretrainFacts, pretrainTowns, pretrainEvals, pretrainThreads, overwrite, resume, preset, distributed,
        };
        root.SetAction(result => CommandLineFailure.Run(() =>
            {
                if (result.GetValue(overwrite) && result.GetValue(resume))
                    throw new ArgumentException("--overwrite and --resume contradict each other; pass one of them.");
                string deviceName = result.GetValue(device)!;
                RaceExperimentOptions basis = RacePresets.For(result.GetValue(preset)!,
                    () => ModelSetup.ParseDevice(deviceName).type == TorchSharp.DeviceType.CUDA);
                // A flag given on the command line wins over the preset; otherwise the preset's value is used.
                T Pick<T>(Option<T> option, T presetValue) => result.GetResult(option) is { Implicit: false } ? result.GetValue(option)! : presetValue;
                string? modelDir = result.GetValue(model);
                string? dataPath = Pick(data, basis.DataPath);
                bool small = (modelDir ?? basis.ModelDirectory) is null;
                var options = basis with
                {
                    ModelDirectory = modelDir ?? basis.ModelDirectory,
                    DataPath = dataPath,
                    Hub = new HubOptions { AllowDownload = result.GetValue(download), CacheDirectory = result.GetValue(cacheDir) },
                    ValidationPath = Pick(validation, basis.ValidationPath),
                    ValidationFraction = Pick(validationFraction, basis.ValidationFraction),
                    Config = Pick(config, basis.Config),
                    PromptLossWeights = result.GetResult(plw) is { Implicit: false } ? ParseWeights(result.GetValue(plw)!) : basis.PromptLossWeights,
                    Epochs = Pick(epochs, basis.Epochs),
                    // Real data trains for --epochs unless --max-steps is given; the preset's step count is for the synthetic set.
                    MaxSteps = result.GetValue(maxSteps) ?? (dataPath is null ? basis.MaxSteps : null),
                    BatchSize = Pick(batchSize, basis.BatchSize),
                    LearningRate = result.GetValue(lr) ?? (small || basis == RacePresets.Paper ? basis.LearningRate : 2e-4),
                    EvalSteps = result.GetValue(evalSteps) ?? basis.EvalSteps,
                    LoraRank = Pick(loraRank, basis.LoraRank),
                    Device = result.GetResult(device) is { Implicit: false } ? deviceName : basis.Device,
                    OutputDirectory = result.GetValue(output)!,
                    MaxExamples = result.GetValue(maxExamples) ?? basis.MaxExamples,
                    MaxEvalExamples = Pick(maxEval, basis.MaxEvalExamples),
                    MaxLength = Pick(maxLength, basis.MaxLength),
                    SkipBadRecords = result.GetValue(skipBad),
                    PackedRowLength = result.GetValue(pack) ?? basis.PackedRowLength,
                    ChatTemplate = result.GetValue(template) ?? basis.ChatTemplate,
                    Seed = Pick(seed, basis.Seed),
                    LearningRateSchedule = Pick(schedule, basis.LearningRateSchedule),
                    Threads = result.GetValue(threads) ?? (small ? basis.Threads : null),
                    Parallelism = result.GetValue(parallel) ?? (small ? basis.Parallelism : 1),
                    PretrainThreads = result.GetValue(pretrainThreads) ?? basis.PretrainThreads,
                    ExistingOutput = result.GetValue(overwrite) ? ExistingOutputPolicy.Overwrite : ExistingOutputPolicy.Resume,
                    Pretraining = basis.Pretraining with
                    {
                        Steps = Pick(pretrainSteps, basis.Pretraining.Steps), LearningRate = Pick(pretrainLr, basis.Pretraining.LearningRate),
                        BatchSize = Pick(pretrainBatch, basis.Pretraining.BatchSize), Evaluations = Pick(pretrainEvals, basis.Pretraining.Evaluations),
                        Corpus = basis.Pretraining.Corpus with
                        {
                            QuestionsPerArticle = Pick(pretrainQuestions, basis.Pretraining.Corpus.QuestionsPerArticle),
                            DistinctQuestions = Pick(pretrainDistinct, basis.Pretraining.Corpus.DistinctQuestions),
                            ReverseQuestions = Pick(pretrainReverse, basis.Pretraining.Corpus.ReverseQuestions),
                            Documents = Pick(pretrainDocuments, basis.Pretraining.Corpus.Documents),
                            FactsPerArticle = Pick(facts, basis.Pretraining.Corpus.FactsPerArticle),
                            MinFactsPerArticle = Pick(pretrainFacts, basis.Pretraining.Corpus.MinFactsPerArticle),
                            TownCount = Pick(pretrainTowns, basis.Pretraining.Corpus.TownCount),
                        },
                    },
                    SmallModel = basis.SmallModel with
                    {
                        HiddenSize = Pick(hidden, basis.SmallModel.HiddenSize), Layers = Pick(layers, basis.SmallModel.Layers),
                        Heads = Pick(heads, basis.SmallModel.Heads), RopeTheta = Pick(ropeTheta, basis.SmallModel.RopeTheta),
                        IntermediateSize = result.GetResult(hidden) is { Implicit: false } ? 2 * result.GetValue(hidden) : basis.SmallModel.IntermediateSize,
                    },
                    Synthetic = basis.Synthetic with
                    {
                        TrainExamples = Pick(trainExamples, basis.Synthetic.TrainExamples), FactsPerArticle = Pick(facts, basis.Synthetic.FactsPerArticle),
                        FillerSentences = Pick(fillers, basis.Synthetic.FillerSentences), Seed = Pick(seed, basis.Synthetic.Seed),
                        ArticleDistractors = Pick(distractors, basis.Synthetic.ArticleDistractors),
                        TownCount = Pick(townCount, basis.Synthetic.TownCount), ShuffleOptions = Pick(shuffle, basis.Synthetic.ShuffleOptions),
                    },
                };
                if (basis == RacePresets.Paper && (options.ModelDirectory is null || options.DataPath is null))
                    throw new ArgumentException("--preset paper needs --data (the RACE Parquet folder) and --model (a Llama-2-7B checkpoint folder).");
                return result.GetValue(distributed) ? RunDistributed(options.Validate(), result.GetValue(verbose)) : Run(options.Validate(), result.GetValue(verbose), null);
            }, result.GetValue(verbose), Console.Error));
        return CommandLineFailure.ParseAndInvoke(root, args, Console.Error);
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

    /// <summary>
    /// One rank of a data-parallel sweep: joins the run the launcher started, tells the other ranks when it fails (so
    /// they stop with an error naming this rank instead of waiting), and shows progress on rank 0 only.
    /// </summary>
    private static int RunDistributed(RaceExperimentOptions options, bool verbose)
    {
        using DistributedContext context = DistributedContext.FromEnvironment();
        try
        {
            return Run(options, verbose, context);
        }
        catch (Exception e)
        {
            context.ReportFailure(e);
            throw;
        }
    }

    private static int Run(RaceExperimentOptions options, bool verbose, DistributedContext? distributed)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning));
        bool main = distributed?.IsMainProcess ?? true;
        // Rank 0 downloads what the caches lack; the other ranks then find it there.
        if (main && options.Hub.DownloadsAllowed) options = Download(options);
        distributed?.Barrier("waiting for rank 0's downloads");
        if (!main)
        {
            if (options.Hub.DownloadsAllowed) options = Download(options);
            new RaceExperiment(options, loggers).Run(new SilentProgress(), distributed!);
            return 0;
        }
        AnsiConsole.MarkupLine(distributed is null ? "[bold]RACE prompt-loss-weight sweep[/]"
            : $"[bold]RACE prompt-loss-weight sweep[/], data-parallel over {distributed.WorldSize} processes ({distributed.Backend}, {distributed.Device.type})");
        var experiment = new RaceExperiment(options, loggers);
        RaceExperimentResult result = AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context => distributed is null ? experiment.Run(new SpectreProgress(context)) : experiment.Run(new SpectreProgress(context), distributed)!);

        var table = new Table().Title("Validation results per PLW (value @ step; accuracy: answer letter among A–D, chance 0.25)");
        foreach (string header in SweepSummary.Headers) table.AddColumn(Markup.Escape(header));
        foreach (RunSummary s in result.Summaries) table.AddRow(SweepSummary.Cells(s, compact: true).Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
        foreach (string line in RaceReport.Questions(result.Summaries).Split('\n').Where(l => l.StartsWith('(')))
            AnsiConsole.MarkupLine(Markup.Escape(line));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"Rg of the data (answer letter / prompt, tokens): arithmetic mean {result.DatasetGenerationRatio.ArithmeticMean:G3}, geometric mean {result.DatasetGenerationRatio.GeometricMean:G3}")));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {result.ReportPath}, {result.CsvPath} and {result.PlotPaths.Count} plots in {Path.GetDirectoryName(result.PlotPaths[0])}"));
        return 0;
    }
}
