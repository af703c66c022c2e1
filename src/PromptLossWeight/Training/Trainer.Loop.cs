using Microsoft.Extensions.Logging;
using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

public partial class Trainer
{

    /// <summary>
    /// Runs training to the end (max steps or epochs), an early stop, or a callback's stop request, and returns the
    /// metric history and the best checkpoint. Before the first step it checks that the output directory can be
    /// written and, when resuming, that the checkpoint is complete and matches the model.
    /// </summary>
    /// <remarks>
    /// While it runs, <c>Train</c> holds <c>run.lock</c> in the output folder, and it records the run's id in <c>run.json</c>
    /// and in every checkpoint's manifest (kept when resuming), so that <c>SaveTotalLimit</c> and <c>ResumeFrom = "latest"</c>
    /// only consider this run's checkpoints.
    /// </remarks>
    /// <exception cref="NonFiniteTrainingException">Non-finite losses or gradients, as the <c>NonFinitePolicy</c> decides.</exception>
    /// <exception cref="OutputDirectoryInUseException">Another live run (in this process or another) holds the output folder.</exception>
    /// <exception cref="Distributed.DistributedException">In a data-parallel run: another rank failed (named in the message) or a collective timed out.</exception>
    public TrainResult Train()
    {
        if (_started) throw new InvalidOperationException("Train() can be called once per Trainer; create a new Trainer (with ResumeFrom) to continue.");
        _started = true;
        try
        {
            return TrainToEnd();
        }
        catch (Exception error) when (_parallel is not null)
        {
            _parallel.ReportFailure(error); // the other ranks stop with an error naming this rank instead of waiting
            throw;
        }
    }

    private TrainResult TrainToEnd()
    {
        using RunLock? runLock = IsMainProcess ? PrepareOutputDirectory() : null; // held until Train returns or throws
        if (Options.Threads is int threads) set_num_threads(threads);
        StepPlan steps = EnsurePlanned();
        // The model may have been moved or converted since the constructor (which replaces its parameters):
        // list them again so that the optimizer, clipping and checkpoints see the live tensors.
        _trainable = TrainerCheckpoints.TrainableParameters(Model.Module);
        if (_trainable.Count == 0) throw new InvalidOperationException("The model has no trainable parameters (none has requires_grad set).");
        if (_trainable[0].Parameter.device_type != Device.type || _trainable[0].Parameter.device_index != Device.index)
            throw new InvalidOperationException($"The model was moved to {_trainable[0].Parameter.device} after the trainer was created for {Device}; create the trainer after moving the model.");
        _optimizer = new TrainerOptimizer(_trainable, Options);
        // Rank 0 alone reads and writes the output folder; the other ranks receive its state, parameters and optimizer state.
        string? resumeFrom = IsMainProcess ? ResolveResume() : null;
        if (resumeFrom is not null) _state = LoadCheckpoint(resumeFrom);
        else
        {
            random.manual_seed(Options.Seed);
            _state = new TrainerState { Seed = Options.Seed, RunId = IsMainProcess ? StartNewRun() : "", RunKey = Options.RunKey };
        }
        if (_parallel is not null) _state = ReceiveMainState(_state);
        _state.TotalSteps = TotalSteps;
        _state.IsWorldProcessZero = IsMainProcess;

        var control = new TrainerControl();
        Logger.LogInformation("Training {Total} steps ({PerEpoch} per epoch), starting at step {Step}, on {Device}.",
            TotalSteps, steps.StepsPerEpoch, _state.Step, Device);
        Model.Module.train();
        string stopReason = "max steps reached";
        bool evaluatedAtThisStep = false;
        while (_state.Step < TotalSteps)
        {
            IReadOnlyList<MicroBatch> plan = Plan(_state.EpochIndex);
            if (_state.MicroBatchInEpoch >= plan.Count)
            {
                _state.EpochIndex++;
                _state.MicroBatchInEpoch = 0;
                continue;
            }
            // A step takes g·N consecutive micro-batches of the plan; rank r trains on every N-th of them, from the r-th.
            int take = Math.Min(Options.GradientAccumulationSteps * Options.WorldSize, plan.Count - _state.MicroBatchInEpoch);
            int rank = _parallel?.Rank ?? 0;
            var group = plan.Skip(_state.MicroBatchInEpoch).Take(take).Where((_, i) => i % Options.WorldSize == rank).ToList();
            RoleWeights roleWeights = CurrentRoleWeights(_state.Step);
            double lr = LearningRateSchedule.At(_state.Step, TotalSteps, Options.LearningRate, Options.WarmupSteps, Options.LearningRateSchedule);

            (double loss, bool skipped) = TrainStep(group, roleWeights, lr);

            _state.MicroBatchInEpoch += take;
            _state.Step++;
            _state.Epoch = EpochsCompleted(_state.Step);
            _state.PromptLossWeight = roleWeights.User;
            _state.LearningRate = lr;
            _state.StepLoss = loss;
            _state.StepSkipped = skipped;
            if (skipped) HandleNonFinite(loss);
            else
            {
                _state.ConsecutiveNonFiniteSteps = 0;
                _state.TrainLossSum += loss;
                _state.TrainLossCount++;
            }

            foreach (TrainerCallback c in Callbacks) c.OnStepEnd(_state, control);
            if (_parallel is not null) AgreeOnControl(control, afterEvaluation: false);
            if (_state.Step % Options.LoggingSteps == 0)
                Logger.LogInformation("step {Step}/{Total} epoch {Epoch} loss {Loss} plw {Plw} lr {Lr}",
                    _state.Step, TotalSteps, Format(_state.Epoch, "F2"), Format(loss, "F5"), Format(roleWeights.User, "G4"), Format(lr, "E3"));

            evaluatedAtThisStep = false;
            if (_state.Step % steps.EvalEvery == 0 || _state.Step == TotalSteps || control.ShouldEvaluate)
            {
                EvaluateAndSave(control);
                evaluatedAtThisStep = true;
                if (_parallel is not null) AgreeOnControl(control, afterEvaluation: true);
            }
            if (control.ShouldStop)
            {
                stopReason = control.StopReason!;
                break;
            }
        }
        if (!evaluatedAtThisStep && _state.Step > 0 && control.ShouldStop) EvaluateAndSave(control);

        Logger.LogInformation("Training ended at step {Step}: {Reason}.", _state.Step, stopReason);
        foreach (TrainerCallback c in Callbacks) c.OnTrainEnd(_state, control);
        string? best = _state.BestStep is long bestStep ? Path.Combine(Options.OutputDirectory, TrainerCheckpoints.FolderName(bestStep)) : null;
        if (best is not null && IsMainProcess && !Directory.Exists(best)) best = null;
        string? last = _lastCheckpoint ?? (IsMainProcess ? OwnCheckpoints().Select(c => c.Path).LastOrDefault() : null);
        return new TrainResult(_state, stopReason, best, last);
    }

    /// <summary>
    /// Evaluates (when there is evaluation data), appends the history row, updates the best metric, tells the
    /// callbacks, and saves a checkpoint.
    /// </summary>
    private void EvaluateAndSave(TrainerControl control)
    {
        control.EvaluationServed();
        IReadOnlyDictionary<string, double> metrics = EvalData.Count > 0 ? Evaluate() : new Dictionary<string, double>();
        double trainLoss = _state.TrainLossCount > 0 ? _state.TrainLossSum / _state.TrainLossCount : double.NaN;
        var record = new MetricRecord(_state.Step, _state.Epoch, _state.PromptLossWeight, _state.LearningRate, trainLoss,
            new Dictionary<string, double>(metrics, StringComparer.Ordinal));
        _state.HistoryRows.Add(record);
        _state.TrainLossSum = 0;
        _state.TrainLossCount = 0;
        if (IsMainProcess) MetricHistory.Write(Options.OutputDirectory, _state.History);
        Logger.LogInformation("eval step {Step}: {Metrics}", _state.Step,
            string.Join(", ", metrics.Select(kv => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kv.Key}={kv.Value:G5}"))));
        if (EvalData.Count > 0) UpdateBest(metrics);
        foreach (TrainerCallback c in Callbacks) c.OnEvaluate(_state, control, record);

        _state.OptimizerSteps = _optimizer!.StepCounts();
        // Rank 0 writes the checkpoint; the other ranks, which hold the same values, go on to the next step meanwhile.
        string path = IsMainProcess ? SaveCheckpoint(_state) : Path.Combine(Options.OutputDirectory, TrainerCheckpoints.FolderName(_state.Step));
        _lastCheckpoint = path;
        if (IsMainProcess) ApplyRetention();
        foreach (TrainerCallback c in Callbacks) c.OnSave(_state, control, path);
    }

    /// <summary>Tracks the best <c>MetricForBest</c> (and so the best checkpoint); stopping early is <see cref="EarlyStoppingCallback"/>'s job.</summary>
    private void UpdateBest(IReadOnlyDictionary<string, double> metrics)
    {
        if (!metrics.TryGetValue(Options.MetricForBest, out double value))
            throw new InvalidOperationException(
                $"TrainerOptions.MetricForBest is '{Options.MetricForBest}', but the evaluation computed only: {string.Join(", ", metrics.Keys)}.");
        if (EarlyStoppingCallback.Improves(value, _state.BestMetric, Options.GreaterIsBetter, Options.EarlyStoppingThreshold))
        {
            _state.BestMetric = value;
            _state.BestStep = _state.Step;
        }
    }

    /// <summary>A number for a log line, culture-independent and rounded for reading (PLW 0.6579999999999999 shows as 0.658).</summary>
    private static string Format(double value, string format) => value.ToString(format, System.Globalization.CultureInfo.InvariantCulture);

    private double EpochsCompleted(long step) => EnsurePlanned().StepsPerEpoch is long perEpoch and > 0 ? (double)step / perEpoch : 0;

    private IReadOnlyList<MicroBatch> Plan(int epoch)
    {
        if (!_planCache.TryGetValue(epoch, out var plan))
        {
            _planCache.Clear();
            plan = PlanTrainBatches(epoch);
            if (plan is null || plan.Count == 0 || plan.Any(g => g is null))
                throw new InvalidOperationException($"PlanTrainBatches({epoch}) returned no micro-batches or a null one.");
            _planCache[epoch] = plan;
        }
        return plan;
    }

    private StepPlan EnsurePlanned() => _steps ??= StepPlan.For(Options, Plan(0).Count);

    /// <summary>
    /// One optimizer step over <paramref name="group"/>: returns the step loss and whether the update was skipped.
    /// Two host reads of its own per step: the weights' checks with the normaliser before the forward passes, then the
    /// loss, the gradient norm and the checks the loss deferred (<see cref="DeferredChecks"/>) after the backward passes.
    /// </summary>
    private (double Loss, bool Skipped) TrainStep(IReadOnlyList<MicroBatch> group, RoleWeights roleWeights, double lr)
    {
        using var scope = NewDisposeScope();
        using DeferredChecks.Scope checks = DeferredChecks.Begin();
        var batches = group.Select(Collate).ToList(); // empty on a rank that has no micro-batch in the epoch's last step
        var weights = batches.Select(b => LossWeights(b, roleWeights)).ToList();
        long step = _state.Step + 1;
        double normalizer;
        using (no_grad())
        {
            foreach (Tensor w in weights) WeightedCrossEntropy.RequireFiniteNonNegative(w);
            Tensor total = batches.Select((b, i) => WeightedCrossEntropy.NormalizerTensor(b.Labels, weights[i], Options.Loss.Normalization))
                .Aggregate(zeros(1, dtype: ScalarType.Float64, device: Device).squeeze(), (a, b) => a + b);
            // Every rank divides by the Σw of the whole step, over all ranks: then the summed gradients are exact.
            if (_parallel is not null) total = _parallel.SumScalars([total], $"the loss normaliser of step {step}");
            normalizer = checks.Verify(total)[0]; // the weights' checks and the step's normaliser, one host read
        }

        Tensor loss = zeros(1, dtype: ScalarType.Float64, device: Device).squeeze();
        for (int i = 0; i < batches.Count; i++)
        {
            using var microScope = NewDisposeScope();
            Tensor microLoss = ComputeLoss(Model, batches[i], weights[i], normalizer);
            if (microLoss.numel() != 1)
                throw new InvalidOperationException($"ComputeLoss must return a scalar; it returned shape [{string.Join(", ", microLoss.shape)}].");
            loss.add_(microLoss.detach().to(ScalarType.Float64).reshape([]));
            microLoss.backward(); // a non-finite loss gives non-finite gradients; the step is then skipped below
        }

        if (_parallel is not null)
        {
            _parallel.SumGradients(_trainable.Select(p => p.Parameter).ToList(), $"the gradient sum of step {step}");
            loss = _parallel.SumScalars([loss], $"the loss of step {step}").reshape([]);
        }
        double[] read = checks.Verify(loss, GradientNorm()); // the same on every rank, so every rank skips or steps alike
        double stepLoss = read[0], gradNorm = read[1];
        if (!double.IsFinite(stepLoss) || !double.IsFinite(gradNorm))
        {
            _optimizer!.ZeroGrad();
            return (stepLoss, true); // a finite loss here means the gradient was not finite
        }
        using (no_grad())
        {
            if (Options.MaxGradNorm is double max && max > 0 && gradNorm > max)
            {
                double coefficient = max / (gradNorm + 1e-6);
                foreach (var (_, p) in _trainable)
                    p.grad?.mul_(coefficient);
            }
        }
        _optimizer!.Step(lr);
        return (stepLoss, false);
    }

    /// <summary>The global L2 norm of the gradients, a fp32 scalar on the device (no host read).</summary>
    private Tensor GradientNorm()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var norms = _trainable.Select(p => p.Parameter.grad).Where(g => g is not null).Select(g => g!.to(ScalarType.Float32).norm()).ToList();
        Tensor norm = norms.Count == 0 ? zeros(1, device: Device).squeeze() : stack(norms).norm();
        return norm.MoveToOuterDisposeScope();
    }

    private void HandleNonFinite(double loss)
    {
        _state.ConsecutiveNonFiniteSteps++;
        _state.SkippedSteps++;
        string what = double.IsFinite(loss) ? "gradient" : $"loss ({loss})";
        if (Options.NonFinitePolicy == NonFinitePolicy.Stop)
            throw new NonFiniteTrainingException(_state.Step - 1,
                $"Non-finite {what} at step {_state.Step - 1}; stopping (NonFinitePolicy.Stop). No checkpoint was written for this step.");
        Logger.LogWarning("Non-finite {What} at step {Step}: update skipped ({Consecutive} in a row, {Total} in all).",
            what, _state.Step - 1, _state.ConsecutiveNonFiniteSteps, _state.SkippedSteps);
        if (_state.ConsecutiveNonFiniteSteps >= Options.MaxConsecutiveNonFiniteSteps)
            throw new NonFiniteTrainingException(_state.Step - 1,
                $"{_state.ConsecutiveNonFiniteSteps} non-finite steps in a row (last at step {_state.Step - 1}, non-finite {what}); " +
                $"stopping (MaxConsecutiveNonFiniteSteps = {Options.MaxConsecutiveNonFiniteSteps}). Lower the learning rate or check the data.");
    }
}

/// <summary>The step arithmetic of a run, from the number of micro-batches in an epoch.</summary>
internal sealed record StepPlan(long StepsPerEpoch, long TotalSteps, long EvalEvery)
{
    public static StepPlan For(TrainerOptions options, long microBatchesPerEpoch)
    {
        long perStep = (long)options.GradientAccumulationSteps * options.WorldSize; // micro-batches of all ranks in one optimizer step
        long perEpoch = (microBatchesPerEpoch + perStep - 1) / perStep;
        long total = options.MaxSteps ?? options.Epochs * perEpoch;
        long evalEvery = options.EvalSteps ?? Math.Max(1, (long)Math.Round(perEpoch * (options.EvalEpochFraction ?? 1.0)));
        return new StepPlan(perEpoch, total, evalEvery);
    }
}
