using PromptLossWeight.Evaluation;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class ScheduleTests
{
    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(5, 0.55)]
    [InlineData(10, 0.1)]
    [InlineData(50, 0.1)]
    public void A_linear_plw_schedule_moves_in_a_straight_line_then_holds(long step, double expected) =>
        PromptLossWeightSchedule.Linear(1.0, 0.1, 10).ValueAt(step, 100, []).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(5, 0.55)]   // half way: the midpoint
    [InlineData(10, 0.1)]
    [InlineData(20, 0.1)]
    public void A_cosine_plw_schedule_follows_half_a_cosine_then_holds(long step, double expected) =>
        PromptLossWeightSchedule.Cosine(1.0, 0.1, 10).ValueAt(step, 100, []).Should().BeApproximately(expected, 1e-12);

    [Theory]
    [InlineData(1.0, 0.1)]
    [InlineData(0.7, 0.3)]
    [InlineData(0.0, 0.9)]
    public void Ramps_start_and_end_exactly_at_their_weights_not_a_rounding_away(double start, double end)
    {
        foreach (IPromptLossWeightSchedule ramp in new[] { PromptLossWeightSchedule.Linear(start, end, 7), PromptLossWeightSchedule.Cosine(start, end, 7) })
        {
            ramp.ValueAt(0, 7, []).Should().Be(start);
            ramp.ValueAt(7, 7, []).Should().Be(end);
            ramp.ValueAt(8, 7, []).Should().Be(end);
        }
    }

    [Fact]
    public void A_cosine_plw_schedule_starts_slowly()
    {
        var cosine = PromptLossWeightSchedule.Cosine(1.0, 0.0, 10);
        cosine.ValueAt(1, 10, []).Should().BeApproximately(0.5 * (1 + Math.Cos(Math.PI * 0.1)), 1e-12);
        cosine.ValueAt(1, 10, []).Should().BeGreaterThan(PromptLossWeightSchedule.Linear(1.0, 0.0, 10).ValueAt(1, 10, []));
    }

    [Fact]
    public void A_constant_plw_schedule_is_constant() =>
        Enumerable.Range(0, 5).Select(s => PromptLossWeightSchedule.Constant(0.3).ValueAt(s, 5, [])).Should().AllBeEquivalentTo(0.3);

    [Theory]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Plw_schedules_reject_invalid_weights(double bad)
    {
        ((Action)(() => PromptLossWeightSchedule.Constant(bad))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*finite number >= 0*");
        ((Action)(() => PromptLossWeightSchedule.Linear(bad, 0, 10))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*start*");
        ((Action)(() => PromptLossWeightSchedule.Cosine(0, bad, 10))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*end*");
    }

    [Theory]
    [InlineData(LearningRateScheduleKind.Constant, 0, 0.25)]
    [InlineData(LearningRateScheduleKind.Constant, 3, 1.0)]
    [InlineData(LearningRateScheduleKind.Constant, 9, 1.0)]
    [InlineData(LearningRateScheduleKind.Linear, 4, 1.0)]
    [InlineData(LearningRateScheduleKind.Linear, 8, 1.0 - 4.0 / 6)]
    [InlineData(LearningRateScheduleKind.Cosine, 7, 0.5)]
    [InlineData(LearningRateScheduleKind.Cosine, 10, 0.0)]
    public void The_learning_rate_warms_up_linearly_then_decays_as_configured(LearningRateScheduleKind kind, long step, double expected) =>
        LearningRateSchedule.At(step, totalSteps: 10, peak: 1.0, warmupSteps: 4, kind).Should().BeApproximately(expected, 1e-12);

    /// <summary>A user schedule that halves the PLW after every evaluation.</summary>
    private sealed class HalveAfterEachEvaluation : IPromptLossWeightSchedule
    {
        public double ValueAt(long step, long totalSteps, IReadOnlyList<MetricRecord> history) => Math.Pow(0.5, history.Count);
    }

    [Fact]
    public void A_user_schedule_sees_the_metric_history_and_drives_the_plw()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 9, EvalSteps = 3, PromptLossWeightSchedule = new HalveAfterEachEvaluation() };
        var plwPerStep = new List<double>();
        var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 14), TrainerTestData.Examples(4, seed: 15));
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => plwPerStep.Add(s.PromptLossWeight) });

        TrainResult result = trainer.Train();

        plwPerStep.Should().Equal(1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25);
        result.History.Select(r => r.PromptLossWeight).Should().Equal(1, 0.5, 0.25);
    }

    [Fact]
    public void A_plw_schedule_flows_into_the_loss_weights()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 4, EvalSteps = 100, PromptLossWeightSchedule = PromptLossWeightSchedule.Linear(0.9, 0.0, 3) };
        var trainer = new WeightRecordingTrainer(new TinyCausalModel(), options, TrainerTestData.Examples(8, seed: 16));

        trainer.Train();

        trainer.PromptWeights.Should().HaveCount(4);
        trainer.PromptWeights.Select(w => Math.Round(w, 6)).Should().Equal(0.9, 0.6, 0.3, 0.0);
    }

    private sealed class WeightRecordingTrainer(PromptLossWeight.Models.ICausalLanguageModel model, TrainerOptions options,
        IReadOnlyList<PromptLossWeight.Masking.MaskedExample> train) : Trainer(model, options, train)
    {
        public List<double> PromptWeights { get; } = [];

        protected override TorchSharp.torch.Tensor ComputeLoss(PromptLossWeight.Models.ICausalLanguageModel model, PromptLossWeight.Batching.Batch batch,
            TorchSharp.torch.Tensor weights, double normalizer)
        {
            float[] w = weights.cpu().data<float>().ToArray();
            long[] roles = batch.Roles.cpu().data<long>().ToArray();
            long[] mask = batch.DocumentIds.cpu().data<long>().ToArray();
            PromptWeights.Add(w.Where((_, i) => mask[i] != 0 && roles[i] != (long)PromptLossWeight.Masking.TokenRole.Assistant).Distinct().Single());
            return base.ComputeLoss(model, batch, weights, normalizer);
        }
    }
}
