using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PromptLossWeight.Batching;
using PromptLossWeight.Distributed;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

/// <summary>
/// The prompt-loss-weighted training loop: AdamW, learning-rate and PLW schedules, exact gradient accumulation,
/// gradient clipping, evaluation with separate prompt / completion losses and answer accuracy, metric history,
/// atomic checkpoints with resume, early stopping and non-finite step handling.
/// </summary>
/// <remarks>
/// <para>Subclass it and override the hooks to change one part of the loop and keep the rest:</para>
/// <list type="bullet">
/// <item><see cref="PlanTrainBatches"/>, <see cref="PlanEvalBatches"/>, <see cref="Collate"/>, <see cref="CollateEval"/>: the batch source (packing is built in).</item>
/// <item><see cref="CurrentRoleWeights"/>, <see cref="LossWeights"/>: the per-token loss weights of a step.</item>
/// <item><see cref="ComputeLoss"/>: the training loss of one micro-batch.</item>
/// <item><see cref="ComputeEvalStatistics"/>, <see cref="PreprocessLogitsForMetrics"/>: per-sequence evaluation statistics, on the device.</item>
/// <item><see cref="ComputeMetrics"/>: the metrics of a whole evaluation.</item>
/// </list>
/// <para>Callbacks (<see cref="Callbacks"/>) observe the run and can stop it without subclassing.</para>
/// </remarks>
public partial class Trainer : IDisposable
{
    // Every field is declared here; each partial file has one job: Trainer.cs construction and the hooks,
    // Trainer.Loop.cs the training loop (the only code that changes _state), Trainer.Evaluation.cs evaluation (reads
    // only), Trainer.SaveAndResume.cs checkpoint I/O (writes a state it is given, returns the state it loads),
    // Trainer.DataParallel.cs what the ranks of a data-parallel run exchange beyond the step's sums.
    private List<(string Name, Parameter Parameter)> _trainable;            // the live trainable parameters (listed again at Train)
    private readonly Dictionary<int, IReadOnlyList<MicroBatch>> _planCache = []; // the micro-batches of the current epoch
    private StepPlan? _steps;                                                // steps per epoch, total steps, evaluation interval
    private TrainerState _state = new();                                     // the run's state (step, history, best); changed only by the loop
    private TrainerOptimizer? _optimizer;                                    // AdamW and its per-parameter state
    private string? _lastCheckpoint;                                         // the checkpoint this run wrote last
    private bool _started;                                                   // Train() runs once per trainer
    private readonly DataParallel? _parallel;                                // the other ranks of a data-parallel run, or null

    /// <summary>
    /// Creates a trainer. Options and data are validated here; the output directory and a checkpoint to resume from
    /// are checked when <see cref="Train"/> starts, before the first step.
    /// </summary>
    /// <param name="model">The model; its parameters with <c>requires_grad</c> are trained.</param>
    /// <param name="options">The run configuration (validated here).</param>
    /// <param name="trainData">Training examples (at least one).</param>
    /// <param name="evalData">Evaluation examples; null or empty: no evaluation (checkpoints are still saved).</param>
    /// <param name="logger">Where progress goes; null: the console, unless <see cref="TrainerOptions.ConsoleProgress"/> is false.</param>
    public Trainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> trainData,
        IReadOnlyList<MaskedExample>? evalData = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(trainData);
        Options = options.Validate();
        Model = model;
        _parallel = Options.Distributed is { } distributed ? new DataParallel(distributed) : null;
        // In a data-parallel run only rank 0 prints progress (every rank computes the same numbers).
        Logger = logger ?? (Options.ConsoleProgress && IsMainProcess ? ConsoleProgressLogger.ForConsole() : NullLogger.Instance);
        TrainData = trainData;
        EvalData = evalData ?? [];
        ValidateExamples(TrainData, "training");
        ValidateExamples(EvalData, "evaluation");
        if (TrainData.Count == 0) throw new ArgumentException("The training data is empty.", nameof(trainData));
        // Move first, then list: moving to another device (or dtype) replaces and frees every parameter that changes,
        // so references taken before the move would point at freed tensors ("cuda" vs "cuda:0" counts as a change).
        if (options.Device is not null) model.Module.to(options.Device);
        _trainable = TrainerCheckpoints.TrainableParameters(model.Module);
        if (_trainable.Count == 0)
            throw new ArgumentException("The model has no trainable parameters (none has requires_grad set).", nameof(model));
        Device = _trainable[0].Parameter.device;
        if (Options.EarlyStoppingPatience is int patience)
            Callbacks.Add(new EarlyStoppingCallback(Options.MetricForBest, patience, Options.GreaterIsBetter, Options.EarlyStoppingThreshold));
    }

    /// <summary>The run configuration.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The model being trained.</summary>
    protected ICausalLanguageModel Model { get; }

    /// <summary>Where progress, warnings and evaluation results are logged.</summary>
    protected ILogger Logger { get; }

    /// <summary>The training examples.</summary>
    protected IReadOnlyList<MaskedExample> TrainData { get; }

    /// <summary>The evaluation examples (possibly empty).</summary>
    protected IReadOnlyList<MaskedExample> EvalData { get; }

    /// <summary>True in a single-process run and on rank 0 of a data-parallel one: the process that writes the output folder.</summary>
    public bool IsMainProcess => (_parallel?.Rank ?? 0) == 0;

    /// <summary>The device batches are placed on (the model's).</summary>
    public Device Device { get; }

    /// <summary>
    /// Callbacks invoked at step end, evaluation, save and train end, in order. With <c>EarlyStoppingPatience</c> set,
    /// the constructor adds an <see cref="EarlyStoppingCallback"/> here.
    /// </summary>
    public IList<TrainerCallback> Callbacks { get; } = new List<TrainerCallback>();

    /// <summary>The state of the run (step, last step's loss, best evaluation, history); read-only, updated by <see cref="Train"/>.</summary>
    public TrainerState State => _state;

    /// <summary>
    /// Total optimizer steps of the run: <c>MaxSteps</c>, or <c>Epochs</c> × the steps of an epoch as
    /// <see cref="PlanTrainBatches"/> plans it (packing included). Planned on first use; use it instead of computing
    /// the number yourself, for warm-up, progress or evaluation intervals.
    /// </summary>
    public long TotalSteps => EnsurePlanned().TotalSteps;

    /// <summary>
    /// The total optimizer steps that a <see cref="Trainer"/> (with the default <see cref="PlanTrainBatches"/>) would plan
    /// for <paramref name="options"/> and <paramref name="trainData"/>, without a model: for options that depend on it
    /// (warm-up, evaluation interval) before the trainer exists.
    /// </summary>
    public static long PlanTotalSteps(TrainerOptions options, IReadOnlyList<MaskedExample> trainData)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(trainData);
        options.Validate();
        ValidateExamples(trainData, "training");
        if (trainData.Count == 0) throw new ArgumentException("The training data is empty.", nameof(trainData));
        return StepPlan.For(options, DefaultTrainPlan(options, trainData, 0, logger: null).Count).TotalSteps;
    }

    // ---------------------------------------------------------------- hooks: data

    /// <summary>
    /// The micro-batches of training epoch <paramref name="epoch"/>, in order. Called once per epoch (cached). Default:
    /// the training examples shuffled with a generator seeded from (<c>Seed</c>, epoch), cut into padded micro-batches of
    /// <c>BatchSize</c> examples (the last one may be smaller); with <c>PackedRowLength</c>, the shuffled examples are
    /// packed once into rows and each micro-batch carries <c>BatchSize</c> of those rows. Must be a pure function of the
    /// epoch so that a resumed run sees the same order.
    /// </summary>
    protected virtual IReadOnlyList<MicroBatch> PlanTrainBatches(int epoch) => DefaultTrainPlan(Options, TrainData, epoch, Logger);

    /// <summary>The micro-batches of an evaluation. Default: the evaluation examples in order, in groups of <c>EvalBatchSize</c>.</summary>
    protected virtual IReadOnlyList<IReadOnlyList<MaskedExample>> PlanEvalBatches() =>
        EvalData.Chunk(Options.EvalBatchSize ?? Options.BatchSize).ToList<IReadOnlyList<MaskedExample>>();

    /// <summary>
    /// Turns a planned micro-batch into a batch on <see cref="Device"/>. Runs inside the step's dispose scope (the
    /// batch's tensors are freed with it). Default: <see cref="MicroBatch.Collate"/> with <c>PadTokenId</c> (padded, or
    /// the packed rows the micro-batch carries).
    /// </summary>
    protected virtual Batch Collate(MicroBatch microBatch) => microBatch.Collate(Options.PadTokenId, Device);

    /// <summary>
    /// Turns a group of evaluation examples into a batch on <see cref="Device"/>. Default: <see cref="PaddingCollator.Pad"/>
    /// (one example per row, so the per-sequence statistics are per example, with or without packing in training).
    /// </summary>
    protected virtual Batch CollateEval(IReadOnlyList<MaskedExample> examples) =>
        PaddingCollator.Pad(examples, Options.PadTokenId, Device);

    // ---------------------------------------------------------------- hooks: loss

    /// <summary>
    /// The role weights for optimizer step <paramref name="step"/>, called once per step before any loss.
    /// Default: <c>Options.RoleWeights</c> when set, otherwise (PLW, PLW, 1) with PLW from the schedule.
    /// </summary>
    protected virtual RoleWeights CurrentRoleWeights(long step)
    {
        if (Options.RoleWeights is not null) return Options.RoleWeights;
        double plw = Options.EffectivePromptLossWeightSchedule.ValueAt(step, TotalSteps, _state.History);
        if (!RoleWeights.IsValid(plw))
            throw new InvalidOperationException($"The prompt loss weight schedule returned {plw} at step {step}; a PLW must be {RoleWeights.Requirement}.");
        return RoleWeights.ForPromptLossWeight(plw, Options.CompletionWeight);
    }

    /// <summary>[B, N] loss weights of a batch for the given role weights (0 on padding). Default: <see cref="Batch.Weights(RoleWeights)"/>.</summary>
    protected virtual Tensor LossWeights(Batch batch, RoleWeights roleWeights) => batch.Weights(roleWeights);

    /// <summary>
    /// The training loss of one micro-batch, on which the trainer calls <c>backward()</c>. Runs inside the step's
    /// dispose scope, in training mode, once per micro-batch. The losses of a step's micro-batches are summed, so
    /// divide by <paramref name="normalizer"/> (Σw over the whole accumulated step) rather than by this batch's Σw.
    /// Default: <c>Options.Loss.Compute(model, batch, weights, normalizer)</c>.
    /// </summary>
    /// <param name="model">The model (run the forward pass here).</param>
    /// <param name="batch">The micro-batch, on <see cref="Device"/>.</param>
    /// <param name="weights">[B, N] weights from <see cref="LossWeights"/>.</param>
    /// <param name="normalizer">The divisor of the whole step: <see cref="WeightedCrossEntropy.Normalizer"/> under <c>Options.Loss.Normalization</c> (Σw or the number of weighted tokens), summed over every micro-batch of this optimizer step.</param>
    protected virtual Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer) =>
        Options.Loss.Compute(model, batch, weights, normalizer);

    // ---------------------------------------------------------------- hooks: evaluation

    /// <summary>
    /// Per-sequence statistics ([B] tensors, left on the device) of one evaluation batch. Runs in eval mode under
    /// <c>no_grad</c> inside a per-batch dispose scope. Default, as <see cref="TrainerOptions.EvaluationSource"/> says:
    /// the loss's own per-token statistics (<see cref="IWeightedLoss.EvaluationStatistics"/>; the default chunked loss
    /// works from hidden states and never builds the logits) reduced by <see cref="SequenceStatistics.FromTokenStatistics"/>,
    /// or the model's logits through <see cref="PreprocessLogitsForMetrics"/>. Both give the same statistics.
    /// </summary>
    protected virtual SequenceStatistics ComputeEvalStatistics(ICausalLanguageModel model, Batch batch)
    {
        if (Options.EvaluationSource == EvaluationSource.Logits)
        {
            Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            return PreprocessLogitsForMetrics(logits, batch);
        }
        IReadOnlyList<long>? answers = Options.AnswerTokenIds.Count > 0 ? Options.AnswerTokenIds : null;
        using TokenStatistics tokens = Options.Loss.EvaluationStatistics(model, batch, answers);
        return SequenceStatistics.FromTokenStatistics(batch, tokens, Options.AnswerTokenIds, EvalWeights(batch));
    }

    /// <summary>The training weights of an evaluation batch at the current step, for <see cref="MetricNames.WeightedLoss"/>.</summary>
    private Tensor EvalWeights(Batch batch) => LossWeights(batch, CurrentRoleWeights(_state.Step));

    /// <summary>
    /// Reduces the logits of an evaluation batch to per-sequence [B] tensors on the device; the trainer concatenates them
    /// over the evaluation and hands them to <see cref="ComputeMetrics"/>. Called only when
    /// <see cref="TrainerOptions.EvaluationSource"/> is <see cref="EvaluationSource.Logits"/> (the model's full logits are
    /// computed for it). Add values of your own to <see cref="SequenceStatistics.Extra"/> for custom metrics.
    /// Default: <see cref="SequenceStatistics.FromLogits"/> with <c>Options.AnswerTokenIds</c> and the current step's loss weights.
    /// </summary>
    protected virtual SequenceStatistics PreprocessLogitsForMetrics(Tensor logits, Batch batch) =>
        SequenceStatistics.FromLogits(logits, batch, Options.AnswerTokenIds, EvalWeights(batch));

    /// <summary>
    /// The metrics of a whole evaluation from the per-sequence statistics (on the CPU). Runs once per evaluation.
    /// Default: <see cref="EvalMetrics.Compute"/> (prompt_loss, completion_loss, full_loss, completion_token_accuracy,
    /// accuracy, and the training objective under either normalisation, weighted_loss and weighted_loss_nonzero).
    /// The returned names become history columns.
    /// </summary>
    protected virtual IReadOnlyDictionary<string, double> ComputeMetrics(EvalOutputs outputs) => EvalMetrics.Compute(outputs);

    /// <summary>Frees the optimizer state (the model stays usable and is not disposed).</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the optimizer state; override to free what a subclass owns (call the base).</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing) _optimizer?.Dispose();
        _optimizer = null;
    }

    // ---------------------------------------------------------------- helpers

    private static IReadOnlyList<MicroBatch> DefaultTrainPlan(TrainerOptions options, IReadOnlyList<MaskedExample> data, int epoch, ILogger? logger)
    {
        int[] order = Enumerable.Range(0, data.Count).ToArray();
        var random = new Random(unchecked(options.Seed * 1_000_003 + epoch));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var shuffled = order.Select(i => data[i]).ToList();
        if (options.PackedRowLength is not int rowLength) return MicroBatch.Padded(shuffled, options.BatchSize);

        PackingPlan plan = PackingPlanner.BestFitDecreasing(shuffled.Select(e => e.Length).ToList(), rowLength);
        logger?.LogDebug("Epoch {Epoch}: {Examples} examples packed into {Rows} rows of {RowLength} tokens (efficiency {Efficiency:F3}).",
            epoch, shuffled.Count, plan.Rows.Count, rowLength, plan.Efficiency);
        return MicroBatch.Packed(shuffled, plan, options.BatchSize);
    }

    private static void ValidateExamples(IReadOnlyList<MaskedExample> examples, string which)
    {
        for (int i = 0; i < examples.Count; i++)
        {
            MaskedExample? e = examples[i];
            if (e is null) throw new ArgumentException($"The {which} data has a null example at index {i}.");
            if (e.InputIds is null || e.Roles is null) throw new ArgumentException($"The {which} example {i} has no token ids or roles.");
            if (e.InputIds.Length != e.Roles.Length)
                throw new ArgumentException($"The {which} example {i} has {e.InputIds.Length} token ids but {e.Roles.Length} roles.");
            if (e.Length == 0) throw new ArgumentException($"The {which} example {i} is empty.");
            if (e.InputIds.Any(id => id < 0)) throw new ArgumentException($"The {which} example {i} has a negative token id.");
        }
    }
}
