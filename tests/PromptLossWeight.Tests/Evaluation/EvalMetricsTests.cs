using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Evaluation;

public class EvalMetricsTests
{
    /// <summary>Returns the same hand-written logits for any input (plus a parameter so the trainer has something to train).</summary>
    private sealed class FixedLogitsModel : nn.Module, ICausalLanguageModel
    {
        private readonly float[] _logits;
        private readonly long[] _shape;
        private readonly Parameter bias;

        public FixedLogitsModel(float[] logits, long[] shape) : base("fixed")
        {
            (_logits, _shape) = (logits, shape);
            bias = nn.Parameter(zeros(shape[2]));
            RegisterComponents();
        }

        public nn.Module Module => this;

        public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null) =>
            tensor(_logits, _shape) + bias;
    }

    // Two sequences, vocabulary of 4, answer ids {2, 3}. Row 1: ids 0 1 2 3, roles U U A A. Row 2: ids 1 3 2 (+ padding), roles U A A.
    private static readonly List<MaskedExample> Examples =
    [
        new([0, 1, 2, 3], [TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]),
        new([1, 3, 2], [TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]),
    ];

    private static readonly float[][] Rows =
    [
        [0, 2, 0, 0],      // row 1, pos 0 → predicts 1 (prompt)
        [3, 0, 1, 0.5f],   // row 1, pos 1 → predicts 2 (completion): full argmax 0 wrong; among {2,3}: 2 right
        [0, 0, 0.2f, 2],   // row 1, pos 2 → predicts 3 (completion): right, right
        [1, 1, 1, 1],      // row 1, pos 3 → nothing to predict
        [0, 0, 1.5f, 1],   // row 2, pos 0 → predicts 3 (completion): full argmax 2 wrong; among {2,3}: 2 wrong
        [0, 0, 2.5f, 0],   // row 2, pos 1 → predicts 2 (completion): right, right
        [5, 0, 0, 0],      // row 2, pos 2 → next is padding: ignored
        [0, 0, 0, 0],      // row 2, pos 3 (padding)
    ];

    private static double CrossEntropy(float[] logits, int label)
    {
        double max = logits.Max();
        double logSumExp = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        return logSumExp - logits[label];
    }

    [Fact]
    public void Eval_metrics_on_a_hand_built_batch_equal_hand_computed_values()
    {
        using var dir = new TempDir();
        var model = new FixedLogitsModel(Rows.SelectMany(r => r).ToArray(), [2, 4, 4]);
        var options = TrainerTestData.Options(dir.Path) with { AnswerTokenIds = [2, 3], EvalBatchSize = 2 };
        var trainer = new Trainer(model, options, Examples, Examples);

        IReadOnlyDictionary<string, double> metrics = trainer.Evaluate();

        double prompt = CrossEntropy(Rows[0], 1);
        double completion = CrossEntropy(Rows[1], 2) + CrossEntropy(Rows[2], 3) + CrossEntropy(Rows[4], 3) + CrossEntropy(Rows[5], 2);
        metrics[MetricNames.PromptLoss].Should().BeApproximately(prompt, 1e-6);
        metrics[MetricNames.CompletionLoss].Should().BeApproximately(completion / 4, 1e-6);
        metrics[MetricNames.FullLoss].Should().BeApproximately((prompt + completion) / 5, 1e-6);
        metrics[MetricNames.CompletionTokenAccuracy].Should().Be(2.0 / 4);
        metrics[MetricNames.Accuracy].Should().Be(3.0 / 4);
    }

    [Fact]
    public void The_weighted_objective_on_a_hand_built_batch_equals_the_hand_computed_values_under_both_normalisations()
    {
        using var dir = new TempDir();
        var model = new FixedLogitsModel(Rows.SelectMany(r => r).ToArray(), [2, 4, 4]);
        // Row 1 weighs 2 from the data, and its last token 0; λp = 0.5, λc = 3.
        var weighted = new List<MaskedExample> { Examples[0] with { DataWeights = [2, 2, 2, 0] }, Examples[1] };
        var options = TrainerTestData.Options(dir.Path) with { EvalBatchSize = 2, PromptLossWeight = 0.5, CompletionWeight = 3 };
        var trainer = new Trainer(model, options, weighted, weighted);

        IReadOnlyDictionary<string, double> metrics = trainer.Evaluate();

        // predicted tokens and their weights: row 1 pos 1 (prompt, 0.5·2), pos 2 (completion, 3·2), pos 3 (completion, 3·0);
        // row 2 pos 1 and 2 (completion, 3 each)
        double sum = 1 * CrossEntropy(Rows[0], 1) + 6 * CrossEntropy(Rows[1], 2) + 0 * CrossEntropy(Rows[2], 3)
            + 3 * CrossEntropy(Rows[4], 3) + 3 * CrossEntropy(Rows[5], 2);
        metrics[MetricNames.WeightedLoss].Should().BeApproximately(sum / (1 + 6 + 3 + 3), 1e-6);
        metrics[MetricNames.WeightedLossNonZero].Should().BeApproximately(sum / 4, 1e-6);
        metrics[MetricNames.CompletionLoss].Should().BeApproximately(
            (CrossEntropy(Rows[1], 2) + CrossEntropy(Rows[2], 3) + CrossEntropy(Rows[4], 3) + CrossEntropy(Rows[5], 2)) / 4, 1e-6,
            "the unweighted metrics do not change with the weights");
    }

    [Fact]
    public void Per_sequence_statistics_are_reduced_on_the_device_to_one_value_per_row()
    {
        using var batch = PaddingCollator.Pad(Examples);
        using var logits = tensor(Rows.SelectMany(r => r).ToArray(), [2, 4, 4]);

        var statistics = SequenceStatistics.FromLogits(logits, batch, [2, 3]);

        Tensor[] all = [statistics.PromptLossSum, statistics.PromptTokens, statistics.CompletionLossSum, statistics.CompletionTokens,
            statistics.CompletionCorrect, statistics.AnswerCorrect, statistics.AnswerTotal];
        all.Should().OnlyContain(t => t.dim() == 1 && t.shape[0] == 2 && t.device_type == logits.device_type && t.dtype == ScalarType.Float64);
        statistics.PromptTokens.data<double>().ToArray().Should().Equal(1, 0);
        statistics.CompletionTokens.data<double>().ToArray().Should().Equal(2, 2);
        statistics.CompletionCorrect.data<double>().ToArray().Should().Equal(1, 1);
        statistics.AnswerCorrect.data<double>().ToArray().Should().Equal(2, 1);
        statistics.AnswerTotal.data<double>().ToArray().Should().Equal(2, 2);
        statistics.Weighted.Should().BeNull("no training weights were given");
        foreach (Tensor t in all) t.Dispose();
    }

    [Fact]
    public void Without_answer_token_ids_there_is_no_accuracy_metric()
    {
        using var dir = new TempDir();
        var model = new FixedLogitsModel(Rows.SelectMany(r => r).ToArray(), [2, 4, 4]);
        var trainer = new Trainer(model, TrainerTestData.Options(dir.Path) with { EvalBatchSize = 2 }, Examples, Examples);

        trainer.Evaluate().Keys.Should().BeEquivalentTo(
            [MetricNames.PromptLoss, MetricNames.CompletionLoss, MetricNames.FullLoss, MetricNames.CompletionTokenAccuracy,
             MetricNames.WeightedLoss, MetricNames.WeightedLossNonZero]);
    }

    [Fact]
    public void An_answer_token_id_outside_the_vocabulary_is_a_clear_error()
    {
        using var dir = new TempDir();
        var model = new FixedLogitsModel(Rows.SelectMany(r => r).ToArray(), [2, 4, 4]);
        var trainer = new Trainer(model, TrainerTestData.Options(dir.Path) with { EvalBatchSize = 2, AnswerTokenIds = [2, 9] }, Examples, Examples);

        var act = () => trainer.Evaluate();

        act.Should().Throw<ArgumentException>().WithMessage("*9*vocabulary of 4*");
    }
}

public class ChunkedEvaluationTests
{
    /// <summary>A model that counts which of its outputs evaluation asked for.</summary>
    private sealed class CountingModel(TinyCausalModel inner) : IHiddenStateLanguageModel
    {
        public int LogitCalls { get; private set; }

        public int HiddenStateCalls { get; private set; }

        public TorchSharp.torch.nn.Module Module => inner;

        public Tensor OutputWeight => inner.OutputWeight;

        public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
        {
            LogitCalls++;
            return inner.Logits(inputIds, attentionMask, positionIds);
        }

        public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
        {
            HiddenStateCalls++;
            return inner.HiddenStates(inputIds, attentionMask, positionIds);
        }
    }

    /// <summary>Adds a statistic of its own in the logits hook and reports it as a metric.</summary>
    private sealed class CustomMetricTrainer(ICausalLanguageModel model, TrainerOptions options,
        IReadOnlyList<MaskedExample> train, IReadOnlyList<MaskedExample> eval, Microsoft.Extensions.Logging.ILogger logger)
        : Trainer(model, options, train, eval, logger)
    {
        public int LogitCalls { get; private set; }

        protected override SequenceStatistics PreprocessLogitsForMetrics(Tensor logits, Batch batch)
        {
            LogitCalls++;
            SequenceStatistics statistics = base.PreprocessLogitsForMetrics(logits, batch);
            statistics.Extra["max_logit"] = logits.amax([1, 2]).to(ScalarType.Float64);
            return statistics;
        }

        protected override IReadOnlyDictionary<string, double> ComputeMetrics(EvalOutputs outputs)
        {
            var metrics = new Dictionary<string, double>(base.ComputeMetrics(outputs)) { ["max_logit"] = outputs.Extra["max_logit"].Max() };
            return metrics;
        }
    }

    [Fact]
    public void With_the_chunked_loss_evaluation_uses_hidden_states_and_gives_the_same_metrics_as_logits()
    {
        using var dir = new TempDir();
        var train = TrainerTestData.Examples(4, seed: 25);
        var eval = TrainerTestData.Examples(7, seed: 26);
        var options = TrainerTestData.Options(dir.Path) with { AnswerTokenIds = [3, 5, 7], EvalBatchSize = 3 };
        var tiny = new TinyCausalModel();
        var logitsModel = new CountingModel(tiny);
        var chunkedModel = new CountingModel(tiny);
        var byLogits = new Trainer(logitsModel, options with { Loss = new LogitsWeightedLoss() }, train, eval);
        var byChunks = new Trainer(chunkedModel, options with { Loss = new ChunkedWeightedCrossEntropy(chunkSize: 4) }, train, eval);

        var expected = byLogits.Evaluate();
        var actual = byChunks.Evaluate();

        logitsModel.LogitCalls.Should().Be(3);
        chunkedModel.LogitCalls.Should().Be(0, "the chunked path never builds [B, N, V] logits");
        chunkedModel.HiddenStateCalls.Should().Be(3);
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        expected.Should().ContainKey(MetricNames.Accuracy);
        foreach (var (name, value) in expected) actual[name].Should().BeApproximately(value, 1e-5, name);
    }

    [Fact]
    public void With_evaluation_from_logits_an_overridden_PreprocessLogitsForMetrics_adds_its_own_statistic()
    {
        using var dir = new TempDir();
        var train = TrainerTestData.Examples(4, seed: 25);
        var eval = TrainerTestData.Examples(7, seed: 26);
        var options = TrainerTestData.Options(dir.Path) with { AnswerTokenIds = [3, 5, 7], EvalBatchSize = 3 };
        options.Loss.Should().BeOfType<ChunkedWeightedCrossEntropy>();
        var tiny = new TinyCausalModel();
        var logger = new ListLogger();
        var trainer = new CustomMetricTrainer(tiny, options with { EvaluationSource = EvaluationSource.Logits }, train, eval, logger);
        var reference = new Trainer(tiny, options, train, eval).Evaluate();

        var first = trainer.Evaluate();
        var second = trainer.Evaluate();

        trainer.LogitCalls.Should().Be(6, "every evaluation batch of both evaluations goes through the hook");
        first.Should().ContainKey("max_logit");
        double.IsFinite(first["max_logit"]).Should().BeTrue();
        second["max_logit"].Should().Be(first["max_logit"]);
        foreach (var (name, value) in reference) first[name].Should().BeApproximately(value, 1e-5, name);
    }

    [Fact]
    public void Under_the_default_evaluation_source_the_logits_hook_is_not_called_and_no_logits_are_built()
    {
        using var dir = new TempDir();
        var train = TrainerTestData.Examples(4, seed: 25);
        var eval = TrainerTestData.Examples(7, seed: 26);
        var options = TrainerTestData.Options(dir.Path) with { AnswerTokenIds = [3, 5, 7], EvalBatchSize = 3 };
        var counting = new CountingModel(new TinyCausalModel());
        var trainer = new CustomMetricTrainer(counting, options, train, eval, new ListLogger());

        Action evaluate = () => trainer.Evaluate();

        evaluate.Should().Throw<KeyNotFoundException>("max_logit only exists when the logits hook runs");
        trainer.LogitCalls.Should().Be(0, "EvaluationSource.Loss is the default: the hook is not called");
        counting.LogitCalls.Should().Be(0);
        counting.HiddenStateCalls.Should().Be(3);
    }

    [Fact]
    public void The_chunked_loss_is_the_default_so_models_with_hidden_states_never_build_full_logits()
    {
        new TrainerOptions().Loss.Should().BeOfType<ChunkedWeightedCrossEntropy>();
    }
}
