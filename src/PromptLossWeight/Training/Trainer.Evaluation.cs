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
            var batches = new List<(SequenceStatistics, long)>();
            foreach (IReadOnlyList<MaskedExample> group in PlanEvalBatches())
            {
                using var batchScope = NewDisposeScope(); // frees the batch and whatever the model built for it
                Batch batch = CollateEval(group);
                SequenceStatistics statistics = ComputeEvalStatistics(Model, batch);
                foreach (var (_, value) in statistics.Columns()) value.MoveToOuterDisposeScope();
                batches.Add((statistics, batch.Size));
            }
            return ComputeMetrics(EvalOutputs.Concatenate(batches));
        }
        finally
        {
            if (wasTraining) Model.Module.train();
        }
    }
}
