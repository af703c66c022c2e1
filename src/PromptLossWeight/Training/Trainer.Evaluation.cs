using Microsoft.Extensions.Logging;
using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

public partial class Trainer
{
    /// <summary>
    /// Evaluates the model on the evaluation data now and returns the metrics (<see cref="ComputeMetrics"/>).
    /// Per-batch statistics stay on the device; only the per-sequence [B] values are copied to the CPU at the end.
    /// </summary>
    /// <exception cref="InvalidOperationException">There is no evaluation data.</exception>
    public IReadOnlyDictionary<string, double> Evaluate()
    {
        if (EvalData.Count == 0) throw new InvalidOperationException("There is no evaluation data to evaluate on.");
        bool wasTraining = Model.Module.training;
        Model.Module.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var parts = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
            foreach (IReadOnlyList<MaskedExample> group in PlanEvalBatches())
            {
                using var batchScope = NewDisposeScope();
                Batch batch = CollateEval(group);
                Dictionary<string, Tensor> statistics = ComputeEvalStatistics(Model, batch);
                foreach (var (key, value) in statistics)
                {
                    if (value.dim() != 1 || value.shape[0] != batch.Size)
                        throw new InvalidOperationException(
                            $"Evaluation statistic '{key}' must be a per-sequence tensor of shape [{batch.Size}]; got [{string.Join(", ", value.shape)}].");
                    if (!parts.TryGetValue(key, out var list)) parts[key] = list = [];
                    list.Add(value.to(ScalarType.Float64).MoveToOuterDisposeScope());
                }
            }
            var values = parts.ToDictionary(kv => kv.Key, kv => cat(kv.Value, 0).cpu().data<double>().ToArray(), StringComparer.Ordinal);
            return ComputeMetrics(new EvalOutputs(values));
        }
        finally
        {
            if (wasTraining) Model.Module.train();
        }
    }

    /// <summary>Evaluates (when there is evaluation data), records the history row, updates the best metric, tells the callbacks, saves a checkpoint.</summary>
    private void EvaluateAndSave(TrainerContext context)
    {
        IReadOnlyDictionary<string, double> metrics = EvalData.Count > 0 ? Evaluate() : new Dictionary<string, double>();
        double trainLoss = _state.TrainLossCount > 0 ? _state.TrainLossSum / _state.TrainLossCount : double.NaN;
        var record = new MetricRecord(_state.Step, Epoch, _state.PromptLossWeight, _state.LearningRate, trainLoss,
            new Dictionary<string, double>(metrics, StringComparer.Ordinal));
        _history.Add(record);
        _state.TrainLossSum = 0;
        _state.TrainLossCount = 0;
        MetricHistory.Write(Options.OutputDirectory, _history);
        Logger.LogInformation("eval step {Step}: {Metrics}", _state.Step,
            string.Join(", ", metrics.Select(kv => $"{kv.Key}={kv.Value:G5}")));
        if (EvalData.Count > 0) UpdateBest(metrics);
        UpdateContext(context, context.StepLoss, context.StepSkipped);
        foreach (TrainerCallback c in Callbacks) c.OnEvaluate(context, record);

        string path = SaveCheckpoint();
        ApplyRetention();
        foreach (TrainerCallback c in Callbacks) c.OnSave(context, path);
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
}
