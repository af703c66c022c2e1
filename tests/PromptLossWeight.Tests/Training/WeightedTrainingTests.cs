using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

/// <summary>
/// The trainer with weights from the data, a completion weight λc and either <see cref="LossNormalization"/>: the loss
/// it optimises is the weighted cross-entropy of the same batch, it stays exact under gradient accumulation and
/// packing, and evaluation reports the same objective.
/// </summary>
public class WeightedTrainingTests
{
    private static readonly List<MaskedExample> Weighted = TrainerTestData.WithDataWeights(TrainerTestData.Examples(16, seed: 41), seed: 42);

    /// <summary>Records the loss of every micro-batch with a reference from full logits and the expected weights.</summary>
    private sealed class RecordingTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train)
        : Trainer(model, options, train)
    {
        public List<(double Trained, double Reference)> Calls { get; } = [];
        public required RoleWeights Expected { get; init; }
        public required LossNormalization Normalization { get; init; }

        protected override Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer)
        {
            Tensor loss = base.ComputeLoss(model, batch, weights, normalizer);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Tensor expected = batch.Weights(Expected);
            expected.allclose(weights).Should().BeTrue("the weights are role weights (λp, λc) times the data weights");
            Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            Calls.Add((loss.item<float>(), WeightedCrossEntropy.Compute(logits, batch.Labels, expected, Normalization).item<float>()));
            return loss;
        }
    }

    [Theory]
    [InlineData(LossNormalization.WeightSum)]
    [InlineData(LossNormalization.NonZeroTokens)]
    public void The_loss_the_trainer_optimises_is_the_weighted_cross_entropy_of_the_batch_with_lambda_c(LossNormalization normalization)
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with
        {
            PromptLossWeight = 0.3, CompletionWeight = 2, MaxSteps = 3, EvalSteps = 100, Loss = new ChunkedWeightedCrossEntropy(normalization: normalization),
        };
        var trainer = new RecordingTrainer(new TinyCausalModel(), options, Weighted)
        {
            Expected = new RoleWeights(0.3, 0.3, 2), Normalization = normalization,
        };

        trainer.Train();

        trainer.Calls.Should().HaveCount(3);
        foreach (var (trained, reference) in trainer.Calls)
            trained.Should().BeApproximately(reference, 1e-6);
    }

    [Theory]
    [InlineData(LossNormalization.WeightSum, false)]
    [InlineData(LossNormalization.NonZeroTokens, false)]
    [InlineData(LossNormalization.WeightSum, true)]
    [InlineData(LossNormalization.NonZeroTokens, true)]
    public void Four_micro_batches_of_two_equal_one_batch_of_eight_in_loss_and_update(LossNormalization normalization, bool logits)
    {
        (List<double> Losses, Dictionary<string, float[]> Parameters) Run(int batchSize, int accumulation)
        {
            using var dir = new TempDir();
            var model = new TinyCausalModel();
            IWeightedLoss loss = logits ? new LogitsWeightedLoss(normalization) : new ChunkedWeightedCrossEntropy(normalization: normalization);
            var options = TrainerTestData.Options(dir.Path) with
            {
                BatchSize = batchSize, GradientAccumulationSteps = accumulation, MaxSteps = 2, EvalSteps = 100,
                PromptLossWeight = 0.1, CompletionWeight = 0.5, LearningRate = 1e-3, Loss = loss,
            };
            var losses = new List<double>();
            var trainer = new Trainer(model, options, Weighted);
            trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => losses.Add(s.StepLoss) });
            trainer.Train();
            return (losses, model.Snapshot());
        }

        var accumulated = Run(batchSize: 2, accumulation: 4);
        var whole = Run(batchSize: 8, accumulation: 1);

        accumulated.Losses.Should().HaveCount(2);
        for (int i = 0; i < 2; i++) accumulated.Losses[i].Should().BeApproximately(whole.Losses[i], 1e-6);
        TrainerTestData.ShouldEqual(accumulated.Parameters, whole.Parameters, 1e-6);
    }

    [Theory]
    [InlineData(LossNormalization.WeightSum)]
    [InlineData(LossNormalization.NonZeroTokens)]
    public void A_packed_step_has_the_loss_and_update_of_the_same_weighted_examples_padded(LossNormalization normalization)
    {
        var initial = new TinyDocumentModel(seed: 11, vocabulary: 16).named_parameters()
            .ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());
        (List<double> Losses, Dictionary<string, float[]> Parameters) Run(int? rowLength)
        {
            using var dir = new TempDir();
            var model = new TinyDocumentModel(seed: 11, vocabulary: 16);
            using (no_grad())
                foreach (var (name, parameter) in model.named_parameters())
                {
                    using var value = tensor(initial[name], parameter.shape);
                    parameter.copy_(value);
                }
            var options = TrainerTestData.Options(dir.Path) with
            {
                BatchSize = 16, MaxSteps = 1, EvalSteps = 100, PromptLossWeight = 0.2, CompletionWeight = 3, LearningRate = 1e-3,
                PackedRowLength = rowLength, Loss = new ChunkedWeightedCrossEntropy(normalization: normalization),
            };
            var losses = new List<double>();
            var trainer = new Trainer(model, options, Weighted);
            trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => losses.Add(s.StepLoss) });
            trainer.Train();
            return (losses, model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray()));
        }

        var padded = Run(null);
        var packed = Run(24);

        packed.Losses.Should().ContainSingle().Which.Should().BeApproximately(padded.Losses.Single(), 1e-6);
        TrainerTestData.ShouldEqual(packed.Parameters, padded.Parameters, 1e-6);
    }

    [Fact]
    public void Evaluation_reports_the_objective_under_either_normalisation_equal_to_the_loss_of_the_whole_set_as_one_batch()
    {
        using var dir = new TempDir();
        var eval = Weighted.Take(6).ToList();
        var model = new TinyCausalModel();
        var options = TrainerTestData.Options(dir.Path) with { PromptLossWeight = 0.25, CompletionWeight = 2, EvalBatchSize = 4 };
        var trainer = new Trainer(model, options, Weighted, eval);

        var metrics = trainer.Evaluate();

        using var batch = PaddingCollator.Pad(eval);
        using var weights = batch.Weights(new RoleWeights(0.25, 0.25, 2));
        using var noGrad = no_grad();
        using var logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        metrics[MetricNames.WeightedLoss].Should().BeApproximately(WeightedCrossEntropy.Compute(logits, batch.Labels, weights, LossNormalization.WeightSum).item<float>(), 1e-6);
        metrics[MetricNames.WeightedLossNonZero].Should().BeApproximately(WeightedCrossEntropy.Compute(logits, batch.Labels, weights, LossNormalization.NonZeroTokens).item<float>(), 1e-6);
        metrics[MetricNames.WeightedLossNonZero].Should().NotBeApproximately(metrics[MetricNames.WeightedLoss], 1e-3);
    }

    [Fact]
    public void A_negative_completion_weight_or_one_beside_role_weights_is_refused_naming_the_option()
    {
        using var dir = new TempDir();
        var negative = TrainerTestData.Options(dir.Path) with { CompletionWeight = -1 };
        var both = TrainerTestData.Options(dir.Path) with { CompletionWeight = 2, RoleWeights = new RoleWeights(0, 0.1, 1) };

        FluentActions.Invoking(() => negative.Validate()).Should().Throw<ArgumentException>().WithMessage("*CompletionWeight*");
        FluentActions.Invoking(() => both.Validate()).Should().Throw<ArgumentException>().WithMessage("*CompletionWeight*RoleWeights*");
    }
}
