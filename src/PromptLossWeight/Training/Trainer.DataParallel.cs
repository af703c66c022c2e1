using PromptLossWeight.Evaluation;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

public partial class Trainer
{
    /// <summary>
    /// Makes this rank start where rank 0 starts: rank 0's state (a resumed one included), every parameter, the optimizer
    /// moments and step counts and the random state, by broadcast. Returns the state to run with.
    /// </summary>
    private TrainerState ReceiveMainState(TrainerState own)
    {
        string json = _parallel!.BroadcastText(IsMainProcess ? own.ToJson() : null, "the trainer state at the start");
        TrainerState state = IsMainProcess ? own : TrainerState.FromJson(json, "rank 0's trainer state");
        using (var scope = NewDisposeScope())
        {
            var tensors = Model.Module.parameters().Select(p => (Tensor)p).Concat(_optimizer!.Moments().Values).ToList();
            Tensor rng = random.get_rng_state();
            tensors.Add(rng);
            _parallel.BroadcastFromMain(tensors, "the parameters and optimizer state at the start");
            if (!IsMainProcess) random.set_rng_state(rng);
        }
        if (!IsMainProcess) _optimizer!.SetStepCounts(state.OptimizerSteps);
        return state;
    }

    /// <summary>
    /// A stop or an evaluation that a callback asked for on one rank holds on all (callbacks may differ between ranks,
    /// e.g. a time limit checked on rank 0 only); one collective.
    /// </summary>
    private void AgreeOnControl(TrainerControl control, bool afterEvaluation)
    {
        using var scope = NewDisposeScope();
        double[] flags = [control.ShouldStop ? 1 : 0, !afterEvaluation && control.ShouldEvaluate ? 1 : 0];
        _parallel!.Sum(flags, $"the callbacks' requests at step {_state.Step}");
        if (flags[0] > 0) control.RequestStop("a stop requested on another rank");
        if (flags[1] > 0) control.RequestEvaluation();
    }

    /// <summary>
    /// The statistics of the whole evaluation on every rank, from each rank's share of the batches (batch i on rank
    /// i mod N): each rank places its values at their sequences' positions in zeroed columns, and one sum over the ranks
    /// fills them. The metrics, the best checkpoint and early stopping are then the same on every rank.
    /// </summary>
    private EvalOutputs GatherEvaluation(IReadOnlyList<int> batchSizes, IReadOnlyList<(int Batch, SequenceStatistics Statistics)> own)
    {
        Dictionary<string, double[]> local = EvalOutputs.ConcatenateColumns(own.Select(o => (o.Statistics, (long)batchSizes[o.Batch])).ToList());
        // The columns are rank 0's (it always has batch 0); a rank that has other columns is a subclass bug, named here.
        string names = _parallel!.BroadcastText(string.Join('\n', local.Keys), "the evaluation statistics' names");
        string[] columns = names.Split('\n');
        if (own.Count > 0 && !local.Keys.Order(StringComparer.Ordinal).SequenceEqual(columns.Order(StringComparer.Ordinal), StringComparer.Ordinal))
            throw new InvalidOperationException(
                $"Rank {_parallel.Rank}'s evaluation statistics ({string.Join(", ", local.Keys)}) differ from rank 0's ({string.Join(", ", columns)}); every batch must give the same statistics.");
        int sequences = batchSizes.Sum();
        var offsets = new int[batchSizes.Count];
        for (int i = 1; i < offsets.Length; i++) offsets[i] = offsets[i - 1] + batchSizes[i - 1];
        var all = new double[columns.Length * sequences];
        for (int c = 0; c < columns.Length; c++)
        {
            if (own.Count == 0) break;
            double[] values = local[columns[c]];
            int read = 0;
            foreach (var (batch, _) in own)
            {
                Array.Copy(values, read, all, c * sequences + offsets[batch], batchSizes[batch]);
                read += batchSizes[batch];
            }
        }
        _parallel.Sum(all, $"the evaluation statistics at step {_state.Step}");
        return EvalOutputs.FromColumns(columns.Select((name, c) => (name, all[(c * sequences)..((c + 1) * sequences)]))
            .ToDictionary(x => x.name, x => x.Item2, StringComparer.Ordinal));
    }
}
