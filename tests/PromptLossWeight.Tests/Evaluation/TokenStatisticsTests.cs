using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Evaluation;

public class TokenStatisticsTests
{
    public TokenStatisticsTests() => TorchRuntime.EnsureLoaded();

    private static (Tensor Hidden, Tensor Head, Tensor Labels) RandomCase(int seed, long b, long n, long d, long v)
    {
        var g = new Generator((ulong)seed);
        Tensor hidden = randn([b, n, d], generator: g);
        Tensor head = randn([v, d], generator: g);
        Tensor labels = randint(0, v, [b, n], generator: g, dtype: ScalarType.Int64);
        labels = where(rand([b, n], generator: g).lt(0.25), full_like(labels, WeightedCrossEntropy.IgnoreIndex), labels);
        return (hidden, head, labels);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 5)]
    [InlineData(3, 1024)]
    public void Chunked_statistics_equal_those_of_full_logits(int seed, int chunkSize)
    {
        using var scope = NewDisposeScope();
        var (hidden, head, labels) = RandomCase(seed, 3, 11, 8, 23);
        // Make some answers predictable so both flags take both values.
        labels[0, 3] = hidden[0, 2].matmul(head.t()).argmax().item<long>();
        long[] answers = [2, 5, 7, 11];
        using TokenStatistics chunked = TokenStatistics.FromHiddenStates(hidden, head, labels, answers, chunkSize);
        using TokenStatistics full = TokenStatistics.FromLogits(hidden.matmul(head.t()), labels, answers);

        (chunked.Loss - WeightedCrossEntropy.PerToken(hidden.matmul(head.t()), labels)).abs().max().item<float>().Should().BeLessThan(1e-5f);
        (chunked.Loss - full.Loss).abs().max().item<float>().Should().BeLessThan(1e-5f);
        chunked.Correct.data<bool>().ToArray().Should().Equal(full.Correct.data<bool>().ToArray());
        chunked.AnswerCorrect!.data<bool>().ToArray().Should().Equal(full.AnswerCorrect!.data<bool>().ToArray());
        chunked.Correct[0, 2].item<bool>().Should().BeTrue("label 3 of row 0 was set to the argmax of position 2");
    }

    [Fact]
    public void Soft_capped_statistics_equal_those_of_the_capped_full_logits()
    {
        using var scope = NewDisposeScope();
        var (hidden, head, labels) = RandomCase(4, 2, 9, 8, 23);
        Tensor capped = (hidden.matmul(head.t()) * 3 / 2.0).tanh() * 2.0;
        using TokenStatistics chunked = TokenStatistics.FromHiddenStates(hidden * 3, head, labels, [2, 5], chunkSize: 4, logitSoftcap: 2.0);
        using TokenStatistics full = TokenStatistics.FromLogits(capped, labels, [2, 5]);

        (chunked.Loss - full.Loss).abs().max().item<float>().Should().BeLessThan(1e-5f);
        chunked.Correct.data<bool>().ToArray().Should().Equal(full.Correct.data<bool>().ToArray());
    }

    [Fact]
    public void The_restricted_argmax_picks_the_best_answer_id_even_when_another_token_scores_higher()
    {
        using var scope = NewDisposeScope();
        // D = V = 4 with an identity head: the logits are the hidden state itself.
        Tensor head = eye(4);
        Tensor hidden = tensor(new float[] { 0, 0, 0, 0, 0, 9, 1, 3 }, [1, 2, 4]);   // position 0 predicts label 1
        Tensor labels = tensor(new long[] { 0, 3 }, [1, 2]);
        using TokenStatistics stats = TokenStatistics.FromHiddenStates(hidden, head, labels, [2, 3]);
        // position 0's logits are all 0: argmax 0 ≠ 3; restricted to {2, 3} ties resolve to 2 ≠ 3.
        stats.Correct[0, 0].item<bool>().Should().BeFalse();
        using TokenStatistics second = TokenStatistics.FromHiddenStates(hidden.flip(1), head, labels, [2, 3]);
        // now position 0 holds [0, 9, 1, 3]: the full argmax is 1 (wrong), restricted to {2, 3} it is 3 (right).
        second.Correct[0, 0].item<bool>().Should().BeFalse();
        second.AnswerCorrect![0, 0].item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Ignored_labels_give_zero_loss_and_are_never_counted_correct()
    {
        using var scope = NewDisposeScope();
        var (hidden, head, labels) = RandomCase(4, 2, 9, 8, 13);
        using TokenStatistics stats = TokenStatistics.FromHiddenStates(hidden, head, labels, [1, 2], chunkSize: 3);
        Tensor ignored = labels[.., 1..].eq(WeightedCrossEntropy.IgnoreIndex);
        stats.Loss.masked_select(ignored).abs().sum().item<float>().Should().Be(0);
        stats.Correct.masked_select(ignored).any().item<bool>().Should().BeFalse();
        stats.AnswerCorrect!.masked_select(ignored).any().item<bool>().Should().BeFalse();
    }

    [Fact]
    public void For_a_model_it_uses_hidden_states_and_matches_the_logits_path()
    {
        using var scope = NewDisposeScope();
        var model = new TinyDocumentModel(seed: 3);
        var examples = new List<MaskedExample>
        {
            new([1, 2, 3, 4, 5], [TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant, TokenRole.Assistant]),
            new([6, 7, 8], [TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]),
        };
        using Batch batch = PaddingCollator.Pad(examples);
        using TokenStatistics stats = new ChunkedWeightedCrossEntropy(chunkSize: 2).EvaluationStatistics(model, batch, [4, 8]);
        using var noGrad = no_grad();
        using TokenStatistics reference = TokenStatistics.FromLogits(model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds), batch.Labels, [4, 8]);
        (stats.Loss - reference.Loss).abs().max().item<float>().Should().BeLessThan(1e-5f);
        stats.Correct.data<bool>().ToArray().Should().Equal(reference.Correct.data<bool>().ToArray());
        stats.AnswerCorrect!.data<bool>().ToArray().Should().Equal(reference.AnswerCorrect!.data<bool>().ToArray());
        stats.Loss.requires_grad.Should().BeFalse();
    }
}
