using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

public class SubclassTests
{
    /// <summary>The README's example: a z-loss regulariser on top of the PLW loss, and a perplexity metric.</summary>
    private sealed class ZLossTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train, IReadOnlyList<MaskedExample> eval)
        : Trainer(model, options, train, eval)
    {
        public const double ZWeight = 1e-3;
        public List<(double Loss, double Expected)> Losses { get; } = [];

        protected override Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer)
        {
            Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);          // [B, N, V]
            Tensor ce = WeightedCrossEntropy.Compute(logits, batch.Labels, weights, normalizer);
            Tensor z = logits.logsumexp(-1).pow(2);                                                      // [B, N]
            Tensor zLoss = (z * weights).sum() / normalizer;
            Tensor loss = ce + ZWeight * zLoss;
            using (no_grad())
            {
                double expected = WeightedCrossEntropy.Compute(logits, batch.Labels, weights).item<float>()
                                  + ZWeight * (z * weights).sum().item<float>() / WeightedCrossEntropy.ShiftedWeights(batch.Labels, weights).sum().item<float>();
                Losses.Add((loss.item<float>(), expected));
            }
            return loss;
        }

        protected override IReadOnlyDictionary<string, double> ComputeMetrics(EvalOutputs outputs)
        {
            var metrics = new Dictionary<string, double>(base.ComputeMetrics(outputs));
            metrics["completion_perplexity"] = Math.Exp(metrics[MetricNames.CompletionLoss]);
            return metrics;
        }
    }

    [Fact]
    public void A_subclass_overriding_ComputeLoss_and_ComputeMetrics_trains_and_reports_its_metric()
    {
        using var dir = new TempDir();
        var examples = TrainerTestData.Examples(8, seed: 12);
        var options = TrainerTestData.Options(dir.Path) with
        {
            PromptLossWeight = 0.5, MaxSteps = 4, EvalSteps = 2, MetricForBest = "completion_perplexity", BatchSize = 8,
        };
        var model = new TinyCausalModel();
        var before = model.Snapshot();
        var trainer = new ZLossTrainer(model, options, examples, TrainerTestData.Examples(4, seed: 13));

        TrainResult result = trainer.Train();

        trainer.Losses.Should().HaveCount(4);
        foreach (var (loss, expected) in trainer.Losses) loss.Should().BeApproximately(expected, 1e-5, "the trainer optimises exactly the subclass's loss");
        result.History.Should().HaveCount(2);
        result.History.Should().OnlyContain(r => Math.Abs(r.Get("completion_perplexity") - Math.Exp(r.Get(MetricNames.CompletionLoss))) < 1e-9);
        File.ReadAllLines(Path.Combine(dir.Path, MetricHistory.CsvFileName))[0].Should().EndWith(",accuracy,weighted_loss,weighted_loss_nonzero,completion_perplexity");
        result.BestMetric.Should().Be(result.History.Min(r => r.Get("completion_perplexity")));
        model.Snapshot()["head.weight"].Should().NotEqual(before["head.weight"]);
    }
}
