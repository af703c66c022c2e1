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
        using var dir = new TempDir();
        var model = new TinyCausalModel();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 40, EvalSteps = 2, EarlyStoppingPatience = 2, SaveTotalLimit = 1 };
        var trainer = new ScriptedMetricsTrainer(model, options, TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7),
            script: [5.0, 3.0, 4.0, 3.5, 1.0, 0.5]);
        var parametersAt = new Dictionary<long, Dictionary<string, float[]>>();
        trainer.Callbacks.Add(new LambdaCallback { Evaluate = (s, c, _) => parametersAt[s.Step] = model.Snapshot() });

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
        TrainerCheckpoints.LoadParameters(restored, result.BestCheckpointPath!);
        TrainerTestData.ShouldEqual(restored.Snapshot(), parametersAt[4], tolerance: 0);
    }

    [Fact]
    public void A_metric_where_greater_is_better_is_tracked_upwards()
    {
        using var dir = new TempDir();
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

    [Fact]
    public void The_option_adds_an_early_stopping_callback_for_the_metric_for_best()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { EarlyStoppingPatience = 3, GreaterIsBetter = true, EarlyStoppingThreshold = 0.01, MetricForBest = MetricNames.Accuracy };

        var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(4, seed: 6), TrainerTestData.Examples(2, seed: 7));

        var callback = trainer.Callbacks.Should().ContainSingle().Which.Should().BeOfType<EarlyStoppingCallback>().Subject;
        (callback.Metric, callback.Patience, callback.GreaterIsBetter, callback.Threshold).Should().Be((MetricNames.Accuracy, 3, true, 0.01));
    }

    [Fact]
    public void An_early_stopping_callback_added_by_hand_stops_the_run_like_the_option()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 40, EvalSteps = 2 };
        var trainer = new ScriptedMetricsTrainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7),
            script: [5.0, 3.0, 4.0, 3.5, 1.0, 0.5]);
        trainer.Callbacks.Add(new EarlyStoppingCallback(MetricNames.CompletionLoss, patience: 2));

        TrainResult result = trainer.Train();

        result.Steps.Should().Be(8);
        result.StopReason.Should().Be("early stopping: completion_loss did not improve for 2 evaluations (best 3 at step 4)");
    }

    [Fact]
    public void A_resumed_run_stops_where_the_uninterrupted_run_stops_because_the_decision_comes_from_the_history()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 40, EvalSteps = 2, EarlyStoppingPatience = 2 };
        double[] script = [5.0, 3.0, 4.0, 3.5, 1.0, 0.5];
        var first = new ScriptedMetricsTrainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7), script);
        first.Callbacks.Add(new LambdaCallback { Evaluate = (s, c, _) => { if (s.Step == 6) c.RequestStop("simulated interruption"); } });
        first.Train().Steps.Should().Be(6);

        // The resumed trainer sees the rest of the script: evaluation 4 (3.5) is the second without improvement.
        var resumed = new ScriptedMetricsTrainer(new TinyCausalModel(), options with { ResumeFrom = TrainerOptions.Latest },
            TrainerTestData.Examples(12, seed: 6), TrainerTestData.Examples(4, seed: 7), script[3..]);
        TrainResult result = resumed.Train();

        result.Steps.Should().Be(8);
        result.StopReason.Should().StartWith("early stopping: completion_loss did not improve for 2 evaluations");
    }

    [Fact]
    public void An_early_stopping_callback_rejects_a_patience_below_one_and_an_unnamed_metric()
    {
        ((Action)(() => new EarlyStoppingCallback(MetricNames.CompletionLoss, patience: 0))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*patience*");
        ((Action)(() => new EarlyStoppingCallback(" ", patience: 1))).Should().Throw<ArgumentException>().WithMessage("*metric*");
    }
}
