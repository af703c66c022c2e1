using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Readers;
using PromptLossWeight.Masking;
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
public sealed record RaceExperimentResult(IReadOnlyList<RunSummary> Summaries, IReadOnlyList<(double Plw, IReadOnlyList<MetricRecord> History)> Histories,
    string CsvPath, string ReportPath, IReadOnlyList<string> PlotPaths, GenerationRatioStatistics DatasetGenerationRatio,
    GenerationRatioStatistics SequenceGenerationRatio);

/// <summary>
/// The RACE PLW experiment, top to bottom: load the data, render it with the model's chat template, train one fresh
/// model per prompt-loss weight with the core <see cref="Trainer"/>, then write the metric history (CSV), the
/// article's plots (PNG), the summary table and a markdown report.
/// </summary>
public sealed class RaceExperiment(RaceExperimentOptions options, ILoggerFactory? loggers = null)
{
    private readonly ILoggerFactory _loggers = loggers ?? NullLoggerFactory.Instance;

    /// <summary>Runs the sweep. Malformed data throws <see cref="DataFormatException"/> before any training.</summary>
    public RaceExperimentResult Run(IRaceProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        options.Validate();
        ILogger logger = _loggers.CreateLogger("Race");
        Device device = ModelSetup.ParseDevice(options.Device);
        if (options.Threads is int threads) set_num_threads(threads);

        RaceData data = RaceData.Load(options);
        progress.Message($"data: {data.Description}: {data.Train.Count} training and {data.Validation.Count} validation examples" +
            (data.Skipped.Count > 0 ? $", {data.Skipped.Count} malformed records skipped" : ""));
        ModelSetup setup = ModelSetup.Create(options, data, device, logger);
        progress.Message($"model: {setup.Description} on {device}");

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
        // The trainer's own plan (packing included), so warm-up, evaluation interval and progress match its steps.
        long totalSteps = Trainer.PlanTotalSteps(new TrainerOptions
        {
            OutputDirectory = options.OutputDirectory, Epochs = options.Epochs, MaxSteps = options.MaxSteps,
            BatchSize = options.BatchSize, PackedRowLength = options.PackedRowLength, Seed = options.Seed,
        }, train);
        int evalSteps = options.EvalSteps ?? (int)Math.Max(1, totalSteps / 16);

        var results = new (IReadOnlyList<MetricRecord> History, RunSummary Summary)[options.PromptLossWeights.Count];
        int parallel = Math.Min(options.Parallelism ?? 1, options.PromptLossWeights.Count);
        if (parallel > 1)
            progress.Message($"training {parallel} runs at a time");
        try
        {
            Parallel.For(0, options.PromptLossWeights.Count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
            {
                double plw = options.PromptLossWeights[i];
                results[i] = RunOne(plw, setup, renderer, train, validation, totalSteps, evalSteps, device, progress);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        var histories = options.PromptLossWeights.Select((plw, i) => (plw, results[i].History)).ToList();
        var summaries = results.Select(r => r.Summary).ToList();

        return RaceReport.Write(options, data, setup, datasetRg, rg, summaries, histories);
    }

    private (IReadOnlyList<MetricRecord>, RunSummary) RunOne(double plw, ModelSetup setup, RaceRenderer renderer, IReadOnlyList<MaskedExample> train,
        IReadOnlyList<MaskedExample> validation, long totalSteps, int evalSteps, Device device, IRaceProgress progress)
    {
        string runDir = Path.Combine(options.OutputDirectory, "runs", RunName(plw));
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        var trainerOptions = new TrainerOptions
        {
            OutputDirectory = runDir,
            PromptLossWeight = plw,
            Loss = setup.Loss,
            LearningRate = options.LearningRate,
            LearningRateSchedule = options.LearningRateSchedule,
            WarmupSteps = Math.Min(100, totalSteps / 10),
            Epochs = options.Epochs,
            MaxSteps = options.MaxSteps,
            BatchSize = options.BatchSize,
            PackedRowLength = options.PackedRowLength,
            EvalBatchSize = Math.Max(options.BatchSize, 64),
            EvalSteps = evalSteps,
            LoggingSteps = evalSteps,
            Seed = options.Seed,
            MetricForBest = MetricNames.CompletionLoss,
            SaveTotalLimit = 1,
            AnswerTokenIds = renderer.AnswerTokenIds,
            PadTokenId = setup.PadTokenId,
            Device = device,
        };
        var watch = Stopwatch.StartNew();
        progress.RunStarted(plw, totalSteps);
        var model = setup.NewModel();
        TrainResult result;
        try
        {
            using var trainer = new Trainer(model, trainerOptions, train, validation, _loggers.CreateLogger($"Race.PLW{plw}"));
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

    private sealed class ProgressCallback(double plw, IRaceProgress progress) : TrainerCallback
    {
        public override void OnStepEnd(TrainerContext context) => progress.StepEnded(plw, context.Step, context.StepLoss);

        public override void OnEvaluate(TrainerContext context, MetricRecord record) => progress.Evaluated(plw, record);
    }
}
