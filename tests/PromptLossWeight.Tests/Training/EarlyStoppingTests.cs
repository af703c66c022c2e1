using PromptLossWeight.Masking;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Models;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class EarlyStoppingTests
{
    /// <summary>Reports scripted completion losses, one per evaluation, so the early-stopping decision is known in advance.</summary>
    private sealed class ScriptedMetricsTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train,
        IReadOnlyList<MaskedExample> eval, double[] script) : Trainer(model, options, train, eval)
    {
        private int _evaluations;

        protected override IReadOnlyDictionary<string, double> ComputeMetrics(EvalOutputs outputs)
        {
            var metrics = new Dictionary<string, double>(base.ComputeMetrics(outputs)) { [MetricNames.CompletionLoss] = script[_evaluations++] };
            return metrics;
        }
    }

    [Fact]
    public void Early_stopping_stops_at_the_configured_patience_and_keeps_the_best_checkpoint()
    {
        using var dir = new TempDirectory();
        var model = new TinyCausalModel();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 40, EvalSteps = 2, EarlyStoppingPatience = 2, SaveTotalLimit = 1 };
        var trainer = new ScriptedMetricsTrainer(model, options, TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7),
            script: [5.0, 3.0, 4.0, 3.5, 1.0, 0.5]);
        var parametersAt = new Dictionary<long, Dictionary<string, float[]>>();
        trainer.Callbacks.Add(new LambdaCallback { Evaluate = (c, _) => parametersAt[c.Step] = model.Snapshot() });

        TrainResult result = trainer.Train();

        // Evaluations at steps 2, 4, 6, 8: best 3.0 at step 4, then two evaluations without improvement.
        result.Steps.Should().Be(8);
        result.StopReason.Should().StartWith("early stopping");
        result.History.Select(r => r.Get(MetricNames.CompletionLoss)).Should().Equal(5.0, 3.0, 4.0, 3.5);
        result.BestMetric.Should().Be(3.0);
        result.BestCheckpointPath.Should().EndWith("checkpoint-4");
        Directory.EnumerateDirectories(dir.Path, "checkpoint-*").Select(Path.GetFileName).Should().BeEquivalentTo(["checkpoint-4", "checkpoint-8"],
            "SaveTotalLimit = 1 keeps the last checkpoint plus the best");

        var restored = new TinyCausalModel(seed: 123);
        Checkpoints.LoadParameters(restored, result.BestCheckpointPath!);
        TrainerTestData.ShouldEqual(restored.Snapshot(), parametersAt[4], tolerance: 0);
    }

    [Fact]
    public void A_metric_where_greater_is_better_is_tracked_upwards()
    {
        using var dir = new TempDirectory();
        var options = TrainerTestData.Options(dir.Path) with
        {
            MaxSteps = 40, EvalSteps = 2, EarlyStoppingPatience = 1, MetricForBest = MetricNames.CompletionLoss, GreaterIsBetter = true,
        };
        var trainer = new ScriptedMetricsTrainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7),
            script: [0.2, 0.6, 0.5, 0.9]);

        TrainResult result = trainer.Train();

        result.Steps.Should().Be(6);
        result.BestMetric.Should().Be(0.6);
        result.BestCheckpointPath.Should().EndWith("checkpoint-4");
    }
}
