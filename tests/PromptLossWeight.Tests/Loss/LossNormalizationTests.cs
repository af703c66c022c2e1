using PromptLossWeight.Loss;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Loss;

/// <summary>
/// <see cref="LossNormalization.WeightSum"/> (Σwℓ / Σw) and <see cref="LossNormalization.NonZeroTokens"/>
/// (Σwℓ / #{w &gt; 0}): each against a hand-computed example, the chunked loss against the logits loss, and the parts of a
/// split batch with the step's divisor against the whole batch.
/// </summary>
public class LossNormalizationTests
{
    public LossNormalizationTests() => TorchRuntime.EnsureLoaded();

    /// <summary>
    /// One row of four tokens over a vocabulary of 3. Position 0 has logits (0, 0, 0) and predicts label 2: ℓ = ln 3.
    /// Position 1 predicts label 1 with weight 0. Position 2 has logits (ln 2, 0, 0) and predicts label 0:
    /// ℓ = ln(2 + 1 + 1) − ln 2 = ln 2. Weights of the predicted tokens: 0.5, 0, 2.
    /// </summary>
    private static (Tensor Logits, Tensor Labels, Tensor Weights) HandExample()
    {
        Tensor logits = tensor(new float[] { 0, 0, 0, 5, -1, 2, MathF.Log(2), 0, 0, 9, 9, 9 }, [1, 4, 3]);
        Tensor labels = tensor(new long[] { 0, 2, 1, 0 }, [1, 4]);
        Tensor weights = tensor(new float[] { 7, 0.5f, 0, 2 }, [1, 4]);
        return (logits, labels, weights);
    }

    private static readonly double WeightedSum = 0.5 * Math.Log(3) + 2 * Math.Log(2);

    [Theory]
    [InlineData(LossNormalization.WeightSum, 2.5)]     // Σw = 0.5 + 0 + 2
    [InlineData(LossNormalization.NonZeroTokens, 2.0)] // two predicted tokens have w > 0
    public void Each_normalisation_equals_the_hand_computed_loss(LossNormalization normalization, double divisor)
    {
        var (logits, labels, weights) = HandExample();

        WeightedCrossEntropy.Normalizer(labels, weights, normalization).Should().Be(divisor);
        WeightedCrossEntropy.Compute(logits, labels, weights, normalization).item<float>().Should().BeApproximately((float)(WeightedSum / divisor), 1e-6f);
    }

    [Fact]
    public void Non_zero_tokens_feels_the_scale_of_the_weights_and_weight_sum_does_not()
    {
        var (logits, labels, weights) = HandExample();
        using Tensor half = weights * 0.5;

        WeightedCrossEntropy.Compute(logits, labels, half, LossNormalization.WeightSum).item<float>()
            .Should().BeApproximately(WeightedCrossEntropy.Compute(logits, labels, weights, LossNormalization.WeightSum).item<float>(), 1e-6f);
        WeightedCrossEntropy.Compute(logits, labels, half, LossNormalization.NonZeroTokens).item<float>()
            .Should().BeApproximately((float)(0.5 * WeightedSum / 2), 1e-6f);
    }

    [Fact]
    public void An_ignored_label_counts_in_neither_divisor_and_no_weight_at_all_gives_zero_not_nan()
    {
        var (logits, _, weights) = HandExample();
        using Tensor labels = tensor(new long[] { 0, 2, 1, WeightedCrossEntropy.IgnoreIndex }, [1, 4]);
        using Tensor none = zeros_like(weights);

        WeightedCrossEntropy.Normalizer(labels, weights, LossNormalization.NonZeroTokens).Should().Be(1);
        WeightedCrossEntropy.Compute(logits, labels, weights, LossNormalization.NonZeroTokens).item<float>().Should().BeApproximately((float)(0.5 * Math.Log(3)), 1e-6f);
        foreach (var normalization in Enum.GetValues<LossNormalization>())
            WeightedCrossEntropy.Compute(logits, labels, none, normalization).item<float>().Should().Be(0f);
    }

    private static (Tensor Hidden, Tensor Head, Tensor Labels, Tensor Weights) RandomCase(int seed)
    {
        var g = new Generator((ulong)seed);
        Tensor hidden = randn([8, 7, 5], generator: g);
        Tensor head = randn([11, 5], generator: g) * 0.5;
        Tensor labels = randint(0, 11, [8, 7], generator: g, dtype: ScalarType.Int64);
        labels = where(rand([8, 7], generator: g).lt(0.2), full_like(labels, WeightedCrossEntropy.IgnoreIndex), labels);
        Tensor weights = rand([8, 7], generator: g) * 2;
        weights = where(rand([8, 7], generator: g).lt(0.3), zeros_like(weights), weights);
        return (hidden, head, labels, weights);
    }

    private static (float Loss, float[] GradHidden, float[] GradHead) Chunked(Tensor hidden, Tensor head, Tensor labels, Tensor weights, double? normalizer, LossNormalization normalization)
    {
        Tensor h = hidden.detach().requires_grad_(), w = head.detach().requires_grad_();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(h, w, labels, weights, normalizer, chunkSize: 3, normalization: normalization);
        loss.backward();
        return (loss.item<float>(), h.grad!.data<float>().ToArray(), w.grad!.data<float>().ToArray());
    }

    private static (float Loss, float[] GradHidden, float[] GradHead) Logits(Tensor hidden, Tensor head, Tensor labels, Tensor weights, LossNormalization normalization)
    {
        Tensor h = hidden.detach().requires_grad_(), w = head.detach().requires_grad_();
        Tensor loss = WeightedCrossEntropy.Compute(h.matmul(w.t()), labels, weights, normalization);
        loss.backward();
        return (loss.item<float>(), h.grad!.data<float>().ToArray(), w.grad!.data<float>().ToArray());
    }

    [Theory]
    [InlineData(LossNormalization.WeightSum)]
    [InlineData(LossNormalization.NonZeroTokens)]
    public void The_chunked_loss_equals_the_logits_loss_in_value_and_gradients(LossNormalization normalization)
    {
        var (hidden, head, labels, weights) = RandomCase(5);

        var chunked = Chunked(hidden, head, labels, weights, null, normalization);
        var logits = Logits(hidden, head, labels, weights, normalization);

        chunked.Loss.Should().BeApproximately(logits.Loss, 1e-6f);
        chunked.GradHidden.Zip(logits.GradHidden, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f);
        chunked.GradHead.Zip(logits.GradHead, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f);
    }

    [Theory]
    [InlineData(LossNormalization.WeightSum)]
    [InlineData(LossNormalization.NonZeroTokens)]
    public void Four_micro_batches_of_two_with_the_step_divisor_equal_one_batch_of_eight(LossNormalization normalization)
    {
        var (hidden, head, labels, weights) = RandomCase(6);
        var whole = Logits(hidden, head, labels, weights, normalization);

        double divisor = Enumerable.Range(0, 4).Sum(k => WeightedCrossEntropy.Normalizer(labels.narrow(0, 2 * k, 2), weights.narrow(0, 2 * k, 2), normalization));
        Tensor h = hidden.detach().requires_grad_(), w = head.detach().requires_grad_();
        double summed = 0;
        for (int k = 0; k < 4; k++)
        {
            Tensor part = ChunkedWeightedCrossEntropy.Compute(h.narrow(0, 2 * k, 2), w, labels.narrow(0, 2 * k, 2), weights.narrow(0, 2 * k, 2), divisor, chunkSize: 3);
            part.backward();
            summed += part.item<float>();
        }

        divisor.Should().Be(WeightedCrossEntropy.Normalizer(labels, weights, normalization));
        summed.Should().BeApproximately(whole.Loss, 1e-6);
        h.grad!.data<float>().ToArray().Zip(whole.GradHidden, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f);
        w.grad!.data<float>().ToArray().Zip(whole.GradHead, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-6f);
    }

    [Fact]
    public void The_loss_objects_report_their_normalisation_for_the_trainer()
    {
        IWeightedLoss chunked = new ChunkedWeightedCrossEntropy(normalization: LossNormalization.NonZeroTokens);
        IWeightedLoss logits = new LogitsWeightedLoss(LossNormalization.NonZeroTokens);

        chunked.Normalization.Should().Be(LossNormalization.NonZeroTokens);
        logits.Normalization.Should().Be(LossNormalization.NonZeroTokens);
        new ChunkedWeightedCrossEntropy().Normalization.Should().Be(LossNormalization.WeightSum);
    }
}
