using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PromptLossWeight.Distributed;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Readers;
using PromptLossWeight.Masking;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Samples.Race.Pretraining;
using PromptLossWeight.Samples.Race.Rendering;
using PromptLossWeight.Samples.Race.Reporting;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Samples.Race;

/// <summary>What a sweep produced.</summary>
/// <param name="Summaries">One summary per PLW, in sweep order.</param>
/// <param name="Histories">The metric history of each PLW run.</param>
/// <param name="CsvPath">metrics.csv with every run's evaluations (column plw tells the runs apart).</param>
/// <param name="ReportPath">report.md.</param>
/// <param name="PlotPaths">The PNG files.</param>
/// <param name="DatasetGenerationRatio">Rg of the training data as the article measures it: answer letter over prompt text, in the model's tokens.</param>
/// <param name="SequenceGenerationRatio">Rg of the rendered training sequences (completion over prompt tokens, chat template included).</param>
/// <param name="Pretrained">The pretrained starting point (null when the runs start from random weights or a --model checkpoint).</param>
/// <param name="Start">The line that says how the output folder was treated: a new sweep, resumed, or overwritten.</param>
public sealed record RaceExperimentResult(IReadOnlyList<RunSummary> Summaries, IReadOnlyList<(double Plw, IReadOnlyList<MetricRecord> History)> Histories,
    string CsvPath, string ReportPath, IReadOnlyList<string> PlotPaths, GenerationRatioStatistics DatasetGenerationRatio,
    GenerationRatioStatistics SequenceGenerationRatio, Pretraining.PretrainedModel? Pretrained, string Start);

/// <summary>
/// The RACE PLW experiment, top to bottom: load the data, render it with the model's chat template, train one fresh
/// model per prompt-loss weight with the core <see cref="Trainer"/>, then write the metric history (CSV), the
/// article's plots (PNG), the summary table and a markdown report.
/// </summary>
public sealed class RaceExperiment(RaceExperimentOptions options, ILoggerFactory? loggers = null)
{
    private readonly ILoggerFactory _loggers = loggers ?? NullLoggerFactory.Instance;

    /// <summary>
    /// Runs the sweep. Malformed data throws <see cref="DataFormatException"/> before any training. An output folder
    /// with an earlier sweep is resumed (or cleared first with <see cref="ExistingOutputPolicy.Overwrite"/>); a run
    /// folder made with other settings stops the sweep with an <see cref="ArgumentException"/> before any training.
    /// </summary>
    public RaceExperimentResult Run(IRaceProgress progress) => Sweep(progress, distributed: null)!;

    /// <summary>
    /// Runs the sweep as one rank of a data-parallel run (every rank calls this with the same options): each PLW run,
    /// and the pretraining, is trained by all ranks together (<see cref="TrainerOptions.Distributed"/>), one run after
    /// another. Rank 0 alone prepares the output folder and writes the runs, the cache and the report, which it returns;
    /// the other ranks return null. The output folder must be one that every rank sees (one machine, or a shared file
    /// system).
    /// </summary>
    public RaceExperimentResult? Run(IRaceProgress progress, DistributedContext distributed)
    {
        ArgumentNullException.ThrowIfNull(distributed);
        return Sweep(progress, distributed);
    }

    private RaceExperimentResult? Sweep(IRaceProgress progress, DistributedContext? distributed)
    {
        ArgumentNullException.ThrowIfNull(progress);
        options.Validate();
        bool main = distributed?.IsMainProcess ?? true;
        ILogger logger = main ? _loggers.CreateLogger("Race") : NullLogger.Instance;
        Device device = distributed?.Device ?? ModelSetup.ParseDevice(options.Device);

        // Rank 0 prepares the folder (and the vocabulary, for real data) before the other ranks read it.
        string runKey = PretrainedModelCache.Key(RunSettings());
        string start = "";
        if (main)
        {
            start = PrepareOutput();
            progress.Message(start);
            foreach (double plw in options.PromptLossWeights) CheckRunFolder(plw, runKey);
        }
        RaceData data = RaceData.Load(options);
        progress.Message($"data: {data.Description}: {data.Train.Count} training and {data.Validation.Count} validation examples" +
            (data.Skipped.Count > 0 ? $", {data.Skipped.Count} malformed records skipped" : ""));
        ModelSetup? setup = main ? ModelSetup.Create(options, data, device, logger) : null;
        distributed?.Barrier("waiting for rank 0 to prepare the output folder");
        setup ??= ModelSetup.Create(options, data, device, logger, writeFiles: false);
        PretrainedModel? pretrained = null;
        if (setup.SmallConfig is not null && options.Pretraining.Steps > 0)
        {
            pretrained = Pretrain(setup, device, progress, distributed);
            setup = setup.FromPretrained(pretrained.Directory, device, $"pretrained {options.Pretraining.Steps} steps on the reading corpus ({pretrained.Directory})");
        }
        progress.Message($"model: {setup.Description} on {device}");
        if (options.Threads is int threads) set_num_threads(threads);

        var renderer = new RaceRenderer(setup.Template, options.MaxLength);
        IReadOnlyList<MaskedExample> train = renderer.RenderAll(data.Train);
        IReadOnlyList<MaskedExample> validation = renderer.RenderAll(data.Validation);
        var rg = GenerationRatioStatistics.From(train.Select(e => GenerationRatio.Of(e.PromptLength, e.CompletionLength)));
        var datasetRg = GenerationRatio.Compute(data.Train.Select(Data.RacePrompt.Render), GenerationRatio.Tokens(t => setup.Template.Tokenizer.Encode(t)));
        string shortened = renderer.Truncated > 0 ? $", {renderer.Truncated} articles shortened to fit {options.MaxLength} tokens" : "";
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"Rg of the data (answer letter / prompt text, tokens): arithmetic mean {datasetRg.ArithmeticMean:G3}, geometric mean {datasetRg.GeometricMean:G3}"));
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"sequences (chat template): mean {train.Average(e => e.Length):F0} tokens, Rg arithmetic mean {rg.ArithmeticMean:G3}, geometric mean {rg.GeometricMean:G3}{shortened}"));

        Directory.CreateDirectory(options.OutputDirectory);
        // What every PLW run shares, built once; the trainer's own plan of it (packing included) gives the steps that
        // warm-up, the evaluation interval and the progress bars count.
        TrainerOptions shared = new()
        {
            OutputDirectory = options.OutputDirectory,
            Loss = setup.Loss,
            LearningRate = options.LearningRate,
            LearningRateSchedule = options.LearningRateSchedule,
            Epochs = options.Epochs,
            MaxSteps = options.MaxSteps,
            BatchSize = options.BatchSize,
            PackedRowLength = options.PackedRowLength,
            EvalBatchSize = Math.Max(options.BatchSize, 64),
            Seed = options.Seed,
            MetricForBest = MetricNames.CompletionLoss,
            SaveTotalLimit = 1,
            AnswerTokenIds = renderer.AnswerTokenIds,
            PadTokenId = setup.PadTokenId,
            Device = device,
            ResumeFrom = TrainerOptions.Latest,
            RunKey = runKey,
        };
        long totalSteps = Trainer.PlanTotalSteps(shared, train);
        int evalSteps = options.EvalSteps ?? (int)Math.Max(1, totalSteps / 16);
        shared = shared with { WarmupSteps = Math.Min(100, totalSteps / 10), EvalSteps = evalSteps, LoggingSteps = evalSteps };

        if (distributed is not null) shared = shared with { Distributed = distributed };

        var results = new (IReadOnlyList<MetricRecord> History, RunSummary Summary)[options.PromptLossWeights.Count];
        // Runs of a data-parallel sweep go one after another, each on every rank.
        int parallel = distributed is not null ? 1 : Math.Min(options.Parallelism ?? 1, options.PromptLossWeights.Count);
        if (parallel > 1)
            progress.Message($"training {parallel} runs at a time");
        try
        {
            Parallel.For(0, options.PromptLossWeights.Count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
            {
                double plw = options.PromptLossWeights[i];
                results[i] = RunOne(plw, setup, shared, train, validation, totalSteps, progress, main);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        var histories = options.PromptLossWeights.Select((plw, i) => (plw, results[i].History)).ToList();
        var summaries = results.Select(r => r.Summary).ToList();

        return !main ? null : RaceReport.Write(options, data, setup, datasetRg, rg, summaries, histories, pretrained, start);
    }

    /// <summary>The files and folders a sweep writes into its output folder (what <see cref="ExistingOutputPolicy.Overwrite"/> removes).</summary>
    public static IReadOnlyList<string> OutputEntries { get; } =
        ["runs", PretrainedModelCache.FolderName, "plots", MetricHistory.CsvFileName, "summary.md", "report.md", "vocab.txt"];

    /// <summary>Applies <see cref="RaceExperimentOptions.ExistingOutput"/> and returns the line that says what was done.</summary>
    private string PrepareOutput()
    {
        string output = options.OutputDirectory;
        if (File.Exists(output)) throw new ArgumentException($"--output {output} is a file; name a folder.");
        var earlier = OutputEntries.Select(e => Path.Combine(output, e)).Where(p => Directory.Exists(p) || File.Exists(p)).ToList();
        Directory.CreateDirectory(output);
        if (earlier.Count == 0)
            return $"{output}: new sweep (the folder holds no earlier results).";
        if (options.ExistingOutput == ExistingOutputPolicy.Resume)
            return $"{output}: resuming the earlier sweep (cached pretraining reused, each PLW run continues from its latest checkpoint; --overwrite starts fresh).";
        foreach (string path in earlier)
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }
        return $"{output}: --overwrite: removed the earlier sweep ({string.Join(", ", earlier.Select(Path.GetFileName))}); starting fresh.";
    }

    /// <summary>What the runs depend on besides their PLW: every option that changes their numbers (the pretraining's included).</summary>
    private object RunSettings() => new
    {
        format = "race-run/1",
        options = options with
        {
            PromptLossWeights = [], OutputDirectory = "", ExistingOutput = ExistingOutputPolicy.Resume, Parallelism = null, Threads = null,
            PretrainThreads = null, Device = "",
        },
    };

    /// <summary>
    /// Refuses a run folder that a run of other settings wrote (it would mix two runs), before anything is prepared:
    /// the run key each PLW run gives the Trainer (<see cref="TrainerOptions.RunKey"/>) is in the folder's run file.
    /// The Trainer refuses such a resume too, but only once the data, the model and the pretraining are ready.
    /// </summary>
    private void CheckRunFolder(double plw, string runKey)
    {
        string runDir = Path.Combine(options.OutputDirectory, "runs", RunName(plw));
        if (TrainerCheckpoints.CurrentRunId(runDir) is null) return; // nothing was trained there
        string? key = TrainerCheckpoints.RunKeyOf(runDir);
        if (key != runKey)
            throw new ArgumentException($"{runDir} holds a run made with other settings (run key {key ?? "none"}, now {runKey}); " +
                "pass --overwrite to start the sweep fresh, or choose another --output.");
    }

    /// <summary>
    /// What the pretrained small model depends on (its cache key is made from this): the architecture, the
    /// pretraining options, the seed and the vocabulary file's SHA-256.
    /// </summary>
    private static object PretrainingSettings(RaceExperimentOptions options, LlamaConfig config, string vocabularyPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new
        {
            format = "race-pretraining/1",
            model = config,
            pretraining = options.Pretraining,
            seed = options.Seed,
            vocabulary = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(vocabularyPath))),
        };
    }

    private PretrainedModel Pretrain(ModelSetup setup, Device device, IRaceProgress progress, DistributedContext? distributed)
    {
        PretrainingOptions p = options.Pretraining;
        object settings = PretrainingSettings(options, setup.SmallConfig!, setup.VocabularyPath!);
        if (PretrainedModelCache.TryGet(options.OutputDirectory, settings) is { } cached)
        {
            progress.Message($"pretraining: reused {cached.Directory} ({DescribeRetrieval(cached.History)})");
            return cached;
        }
        set_num_threads(options.PretrainThreads ?? Environment.ProcessorCount);
        var (corpus, corpusValidation) = Synthetic.SyntheticReadingCorpus.Generate(p.Corpus, setup.Tokenizer);
        int evalEvery = (int)Math.Max(1, p.Steps / p.Evaluations);
        var trainerOptions = new TrainerOptions
        {
            OutputDirectory = "pretraining",
            PromptLossWeight = 1,
            Loss = setup.Loss,
            LearningRate = p.LearningRate,
            LearningRateSchedule = LearningRateScheduleKind.Cosine,
            WarmupSteps = Math.Min(200, p.Steps / 10),
            MaxSteps = p.Steps,
            BatchSize = p.BatchSize,
            EvalBatchSize = 128,
            EvalSteps = evalEvery,
            LoggingSteps = evalEvery,
            Seed = options.Seed,
            MetricForBest = MetricNames.Accuracy,
            GreaterIsBetter = true,
            SaveTotalLimit = 1,
            AnswerTokenIds = Synthetic.SyntheticReadingCorpus.TownTokenIds(p.Corpus, setup.Tokenizer),
            PadTokenId = setup.PadTokenId,
            Device = device,
            Distributed = distributed,
        };
        progress.PretrainingStarted(p.Steps);
        var result = PretrainedModelCache.GetOrTrain(options.OutputDirectory, settings,
            () => new LlamaForCausalLM(setup.SmallConfig!, device).InitializeWeights(options.Seed), trainerOptions, corpus, corpusValidation,
            distributed is { IsMainProcess: false } ? NullLogger.Instance : _loggers.CreateLogger("Race.Pretraining"), [new PretrainingCallback(progress)]);
        progress.PretrainingFinished(result.History);
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"pretraining: {p.Steps} steps in {result.Seconds:F0} s ({p.Steps / Math.Max(result.Seconds, 1e-9):F1} steps/s), {DescribeRetrieval(result.History)}; cached in {result.Directory}"));
        return result;
    }

    /// <summary>"retrieval accuracy 0.97 at step 1200" from the last pretraining evaluation.</summary>
    public static string DescribeRetrieval(IReadOnlyList<MetricRecord> history) => history.Count == 0
        ? "no evaluation"
        : string.Create(CultureInfo.InvariantCulture,
            $"free-form retrieval accuracy {history[^1].Get(MetricNames.Accuracy):F3} at step {history[^1].Step} (answer loss {history[^1].Get(MetricNames.CompletionLoss):F3})");

    private (IReadOnlyList<MetricRecord>, RunSummary) RunOne(double plw, ModelSetup setup, TrainerOptions shared, IReadOnlyList<MaskedExample> train,
        IReadOnlyList<MaskedExample> validation, long totalSteps, IRaceProgress progress, bool main)
    {
        string runDir = Path.Combine(options.OutputDirectory, "runs", RunName(plw));
        TrainerOptions trainerOptions = shared with { OutputDirectory = runDir, PromptLossWeight = plw };
        var watch = Stopwatch.StartNew();
        progress.RunStarted(plw, totalSteps);
        var model = setup.NewModel();
        TrainResult result;
        try
        {
            using var trainer = new Trainer(model, trainerOptions, train, validation,
                main ? _loggers.CreateLogger($"Race.PLW{plw}") : NullLogger.Instance);
            trainer.Callbacks.Add(new ProgressCallback(plw, progress));
            result = trainer.Train();
        }
        finally
        {
            model.Module.Dispose();
        }
        var summary = RunSummary.From(plw, result.History, watch.Elapsed.TotalSeconds);
        progress.RunFinished(plw, summary);
        return (result.History, summary);
    }

    /// <summary>The folder name of a PLW's run, e.g. "plw_0.1".</summary>
    public static string RunName(double plw) => "plw_" + plw.ToString("G6", CultureInfo.InvariantCulture);

    private sealed class PretrainingCallback(IRaceProgress progress) : TrainerCallback
    {
        public override void OnStepEnd(TrainerState state, TrainerControl control) => progress.PretrainingStep(state.Step, state.StepLoss);

        public override void OnEvaluate(TrainerState state, TrainerControl control, MetricRecord record) => progress.PretrainingEvaluated(record);
    }

    private sealed class ProgressCallback(double plw, IRaceProgress progress) : TrainerCallback
    {
        public override void OnStepEnd(TrainerState state, TrainerControl control) => progress.StepEnded(plw, state.Step, state.StepLoss);

        public override void OnEvaluate(TrainerState state, TrainerControl control, MetricRecord record) => progress.Evaluated(plw, record);
    }
}
