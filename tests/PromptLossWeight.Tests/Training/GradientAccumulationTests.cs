using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class GradientAccumulationTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(0.05)]
    public void Four_micro_batches_of_two_equal_one_batch_of_eight_in_loss_and_update(double? maxGradNorm)
    {
        // Rows have different lengths, so each micro-batch is padded differently from the batch of eight.
        var examples = TrainerTestData.Examples(16, seed: 3);
        examples.Select(e => e.Length).Distinct().Count().Should().BeGreaterThan(3);

        (List<double> losses, Dictionary<string, float[]> parameters) Run(int batchSize, int accumulation)
        {
            using var dir = new TempDir();
            var model = new TinyCausalModel();
            var options = TrainerTestData.Options(dir.Path) with
            {
                BatchSize = batchSize, GradientAccumulationSteps = accumulation, MaxSteps = 2, EvalSteps = 100,
                PromptLossWeight = 0.1, MaxGradNorm = maxGradNorm, WeightDecay = 0.01, LearningRate = 1e-3,
            };
            var losses = new List<double>();
            var trainer = new Trainer(model, options, examples);
            trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => losses.Add(s.StepLoss) });
            trainer.Train();
            return (losses, model.Snapshot());
        }

        var accumulated = Run(batchSize: 2, accumulation: 4);
        var whole = Run(batchSize: 8, accumulation: 1);

        accumulated.losses.Should().HaveCount(2);
        for (int i = 0; i < 2; i++) accumulated.losses[i].Should().BeApproximately(whole.losses[i], 1e-6);
        TrainerTestData.ShouldEqual(accumulated.parameters, whole.parameters, 1e-6);
        TrainerTestData.ShouldEqual(whole.parameters, new TinyCausalModel().Snapshot(), double.PositiveInfinity); // same names
    }
}
