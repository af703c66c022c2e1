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
            IReadOnlyList<IReadOnlyList<MaskedExample>> plan = PlanEvalBatches();
            int world = Options.WorldSize, rank = _parallel?.Rank ?? 0;
            var own = new List<(int Batch, SequenceStatistics Statistics, long Size)>();
            for (int i = rank; i < plan.Count; i += world) // in a data-parallel run, batch i is rank i mod N's
            {
                using var batchScope = NewDisposeScope(); // frees the batch and whatever the model built for it
                Batch batch = CollateEval(plan[i]);
                if (_parallel is not null && batch.Size != plan[i].Count) // the other ranks place the statistics by the plan's counts
                    throw new InvalidOperationException($"CollateEval made a batch of {batch.Size} rows from {plan[i].Count} examples; a data-parallel evaluation needs one row per example.");
                SequenceStatistics statistics = ComputeEvalStatistics(Model, batch);
                foreach (var (_, value) in statistics.Columns()) value.MoveToOuterDisposeScope();
                own.Add((i, statistics, batch.Size));
            }
            EvalOutputs outputs = _parallel is null
                ? EvalOutputs.Concatenate(own.Select(o => (o.Statistics, o.Size)).ToList())
                : GatherEvaluation(plan.Select(g => g.Count).ToList(), own.Select(o => (o.Batch, o.Statistics)).ToList());
            return ComputeMetrics(outputs);
        }
        finally
        {
            if (wasTraining) Model.Module.train();
        }
    }
}
