using PromptLossWeight.Loss;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Loss;

public class WeightedCrossEntropyTests
{
    private const long Ignore = WeightedCrossEntropy.IgnoreIndex;

    // A fixed 2×4×5 example: row 0 = 2 prompt tokens + 2 completion tokens; row 1 = 3 prompt + 1 completion.
    private static (Tensor Logits, Tensor Labels, Tensor PromptMask, Tensor CompletionMask) SmallExample()
    {
        var logits = tensor(new float[]
        {
            0.1f, 0.2f, 0.3f, 0.4f, 0.5f,   1.0f, -1.0f, 0.0f, 2.0f, 0.5f,   0.3f, 0.3f, 0.9f, -0.2f, 0.0f,   0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
            2.0f, 1.0f, 0.0f, -1.0f, -2.0f, 0.5f, 0.5f, 0.5f, 0.5f, 1.5f,   -0.3f, 0.8f, 0.1f, 0.4f, 0.2f,   1.0f, 2.0f, 3.0f, 4.0f, 5.0f,
        }, [2, 4, 5]);
        var labels = tensor(new long[] { 1, 3, 2, 4, 0, 4, 1, 3 }, [2, 4]);
        var prompt = tensor(new float[] { 1, 1, 0, 0, 1, 1, 1, 0 }, [2, 4]);
        var completion = tensor(new float[] { 0, 0, 1, 1, 0, 0, 0, 1 }, [2, 4]);
        return (logits, labels, prompt, completion);
    }

    private static double HandLoss(float[] logitsRow, long label)
    {
        double max = logitsRow.Max();
        double logSumExp = max + Math.Log(logitsRow.Sum(x => Math.Exp(x - max)));
        return logSumExp - logitsRow[label];
    }

    [Fact]
    public void A_hand_computed_2x4x5_example_matches_to_1e_6()
    {
        var (logits, labels, prompt, completion) = SmallExample();
        const double plw = 0.3;
        using var weights = prompt * plw + completion;
        float[] l = logits.data<float>().ToArray();
        long[] y = labels.data<long>().ToArray();
        float[] w = weights.data<float>().ToArray();
        double sum = 0, total = 0;
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 3; i++) // logits at i predict the label at i+1, with the weight of token i+1
            {
                double loss = HandLoss(l.AsSpan((b * 4 + i) * 5, 5).ToArray(), y[b * 4 + i + 1]);
                sum += w[b * 4 + i + 1] * loss;
                total += w[b * 4 + i + 1];
            }

        using var result = WeightedCrossEntropy.Compute(logits, labels, weights);
        result.item<float>().Should().BeApproximately((float)(sum / total), 1e-6f);
    }

    [Fact]
    public void PLW_1_equals_plain_mean_cross_entropy_over_all_shifted_tokens()
    {
        var (logits, labels, prompt, completion) = SmallExample();
        using var weights = prompt * 1.0 + completion;
        using var expected = nn.functional.cross_entropy(logits[.., ..3, ..].reshape(6, 5), labels[.., 1..].reshape(6));
        WeightedCrossEntropy.Compute(logits, labels, weights).item<float>().Should().BeApproximately(expected.item<float>(), 1e-6f);
    }

    [Fact]
    public void PLW_0_equals_completion_only_cross_entropy()
    {
        var (logits, labels, _, completion) = SmallExample();
        using var masked = labels.clone();
        masked.masked_fill_(completion.eq(0), Ignore); // the classic prompt masking with -100
        using var expected = nn.functional.cross_entropy(logits[.., ..3, ..].reshape(6, 5), masked[.., 1..].reshape(6), ignore_index: Ignore);
        WeightedCrossEntropy.Compute(logits, labels, completion).item<float>().Should().BeApproximately(expected.item<float>(), 1e-6f);
    }

    [Fact]
    public void The_gradient_matches_a_finite_difference_check()
    {
        manual_seed(3);
        using var logits = randn(new long[] { 2, 5, 7 }, dtype: ScalarType.Float64).requires_grad_();
        using var labels = randint(0, 7, [2, 5]);
        using var weights = rand(2, 5, dtype: ScalarType.Float64);
        using var loss = WeightedCrossEntropy.Compute(logits, labels, weights);
        loss.backward();
        double[] analytic = logits.grad!.data<double>().ToArray();
        double[] values = logits.detach().data<double>().ToArray();
        const double h = 1e-6;
        foreach (int k in new[] { 0, 8, 20, 33, 47, 69 })
        {
            double Eval(double delta)
            {
                var copy = (double[])values.Clone();
                copy[k] += delta;
                using var perturbed = tensor(copy, [2, 5, 7]);
                using var l = WeightedCrossEntropy.Compute(perturbed, labels, weights);
                return l.to(ScalarType.Float64).item<double>();
            }
            double numeric = (Eval(h) - Eval(-h)) / (2 * h);
            analytic[k].Should().BeApproximately(numeric, 1e-5, $"entry {k}");
        }
    }

    [Fact]
    public void Ignored_labels_and_padding_do_not_change_the_result()
    {
        var (logits, labels, prompt, completion) = SmallExample();
        using var weights = prompt * 0.5 + completion;
        float reference = WeightedCrossEntropy.Compute(logits, labels, weights).item<float>();

        // Append two padding positions with arbitrary logits, label -100 and arbitrary weight.
        using var paddedLogits = cat([logits, randn(2, 2, 5) * 10], 1);
        using var paddedLabels = cat([labels, full(2, 2, Ignore)], 1);
        using var paddedWeights = cat([weights, full(2, 2, 7.0f)], 1);
        WeightedCrossEntropy.Compute(paddedLogits, paddedLabels, paddedWeights).item<float>().Should().BeApproximately(reference, 1e-6f);
    }

    [Fact]
    public void Scaling_all_weights_by_a_positive_constant_changes_nothing()
    {
        var (logits, labels, prompt, completion) = SmallExample();
        using var weights = prompt * 0.2 + completion;
        using var scaled = weights * 13.5;
        WeightedCrossEntropy.Compute(logits, labels, scaled).item<float>()
            .Should().BeApproximately(WeightedCrossEntropy.Compute(logits, labels, weights).item<float>(), 1e-6f);
    }

    [Fact]
    public void Zero_total_weight_gives_zero_loss_and_finite_zero_gradients()
    {
        var (logits, labels, _, _) = SmallExample();
        using var leaf = logits.clone().requires_grad_();
        using var loss = WeightedCrossEntropy.Compute(leaf, labels, zeros(2, 4));
        loss.item<float>().Should().Be(0f);
        loss.backward();
        leaf.grad!.abs().max().item<float>().Should().Be(0f);
        isfinite(leaf.grad!).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void With_PLW_0_prompt_predictions_get_exactly_zero_gradient()
    {
        var (logits, labels, _, completion) = SmallExample();
        using var leaf = logits.clone().requires_grad_();
        WeightedCrossEntropy.Compute(leaf, labels, completion).backward();
        // Row 0: positions 0 (predicts prompt token 1) and 3 (last, predicts nothing) get no gradient.
        leaf.grad![0, 0].abs().sum().item<float>().Should().Be(0f);
        leaf.grad![0, 3].abs().sum().item<float>().Should().Be(0f);
        leaf.grad![0, 1].abs().sum().item<float>().Should().BeGreaterThan(0f);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    [InlineData(ScalarType.Float16, 2e-3)]
    public void Half_precision_logits_give_the_fp32_answer_to_their_tolerance(ScalarType dtype, double tolerance)
    {
        manual_seed(5);
        using var logits = randn(3, 6, 11);
        using var labels = randint(0, 11, [3, 6]);
        using var weights = rand(3, 6);
        using var half = logits.to(dtype);
        using var fromHalf = WeightedCrossEntropy.Compute(half, labels, weights);
        using var fromFull = WeightedCrossEntropy.Compute(half.to(ScalarType.Float32), labels, weights);
        fromHalf.dtype.Should().Be(ScalarType.Float32, "the reduction is done in fp32");
        fromHalf.item<float>().Should().BeApproximately(fromFull.item<float>(), 1e-6f, "the cast to fp32 happens before the softmax");
        fromHalf.item<float>().Should().BeApproximately(WeightedCrossEntropy.Compute(logits, labels, weights).item<float>(), (float)tolerance);
    }

    [Fact]
    public void An_external_normaliser_makes_split_batches_sum_to_the_whole_batch_loss()
    {
        manual_seed(9);
        using var logits = randn(4, 6, 9);
        using var labels = randint(0, 9, [4, 6]);
        using var weights = rand(4, 6);
        float whole = WeightedCrossEntropy.Compute(logits, labels, weights).item<float>();
        double total = WeightedCrossEntropy.ShiftedWeights(labels, weights).sum().item<float>();
        float first = WeightedCrossEntropy.Compute(logits[..1], labels[..1], weights[..1], total).item<float>();
        float rest = WeightedCrossEntropy.Compute(logits[1..], labels[1..], weights[1..], total).item<float>();
        (first + rest).Should().BeApproximately(whole, 1e-6f);
    }

    [Fact]
    public void Per_token_losses_are_shifted_and_zero_where_ignored()
    {
        var (logits, labels, _, _) = SmallExample();
        labels[1, 2] = tensor(Ignore);
        using var perToken = WeightedCrossEntropy.PerToken(logits, labels);
        perToken.shape.Should().Equal(2, 3);
        perToken[1, 1].item<float>().Should().Be(0f);
        perToken[0, 0].item<float>().Should().BeApproximately((float)HandLoss(logits[0, 0].data<float>().ToArray(), 3), 1e-6f);
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_argument_and_the_shapes()
    {
        var (logits, labels, prompt, _) = SmallExample();
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits, labels, ones(2, 3)))
            .Should().Throw<ArgumentException>().WithParameterName("weights").WithMessage("*[2, 4]*[2, 3]*");
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits, labels.to(ScalarType.Int32), prompt))
            .Should().Throw<ArgumentException>().WithParameterName("labels").WithMessage("*int64*");
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits[0], labels, prompt))
            .Should().Throw<ArgumentException>().WithParameterName("logits").WithMessage("*[B, N, V]*[4, 5]*");
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits, labels, prompt * -1))
            .Should().Throw<ArgumentException>().WithParameterName("weights").WithMessage("*negative*");
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits, labels, prompt / 0))
            .Should().Throw<ArgumentException>().WithParameterName("weights").WithMessage("*NaN or infinity*");
        FluentActions.Invoking(() => WeightedCrossEntropy.Compute(logits, labels, prompt, double.NaN))
            .Should().Throw<ArgumentException>().WithParameterName("normalizer");
    }
}
