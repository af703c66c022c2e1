using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Loss;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Loss;

public class ChunkedWeightedCrossEntropyTests
{
    public ChunkedWeightedCrossEntropyTests() => TorchRuntime.EnsureLoaded();

    /// <summary>Random hidden states, head, labels with -100s and weights with zeros.</summary>
    private sealed record Case(Tensor Hidden, Tensor Head, Tensor Labels, Tensor Weights);

    private static Case RandomCase(int seed, long b, long n, long d, long v, ScalarType dtype = ScalarType.Float32)
    {
        var g = new Generator((ulong)seed);
        Tensor hidden = randn([b, n, d], generator: g).to(dtype).requires_grad_();
        Tensor head = (randn([v, d], generator: g) * 0.5).to(dtype).requires_grad_();
        Tensor labels = randint(0, v, [b, n], generator: g, dtype: ScalarType.Int64);
        Tensor ignored = rand([b, n], generator: g).lt(0.2);
        labels = where(ignored, full_like(labels, WeightedCrossEntropy.IgnoreIndex), labels);
        Tensor weights = rand([b, n], generator: g);
        weights = where(rand([b, n], generator: g).lt(0.3), zeros_like(weights), weights);
        return new Case(hidden, head, labels, weights);
    }

    private static (Tensor Loss, Tensor GradHidden, Tensor GradHead) Naive(Case c, double? normalizer = null, double? softcap = null)
    {
        Tensor hidden = c.Hidden.detach().requires_grad_(), head = c.Head.detach().requires_grad_();
        Tensor logits = hidden.matmul(head.t());
        if (softcap is double cap) logits = (logits / cap).tanh() * cap;
        Tensor loss = normalizer is double n
            ? WeightedCrossEntropy.Compute(logits, c.Labels, c.Weights, n)
            : WeightedCrossEntropy.Compute(logits, c.Labels, c.Weights);
        loss.backward();
        return (loss.detach(), hidden.grad!, head.grad!);
    }

    private static (Tensor Loss, Tensor GradHidden, Tensor GradHead) Chunked(Case c, int chunkSize, double? normalizer = null, double? softcap = null)
    {
        Tensor hidden = c.Hidden.detach().requires_grad_(), head = c.Head.detach().requires_grad_();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(hidden, head, c.Labels, c.Weights, normalizer, chunkSize, logitSoftcap: softcap);
        loss.backward();
        return (loss.detach(), hidden.grad!, head.grad!);
    }

    private static void ShouldBeClose(Tensor actual, Tensor expected, double tolerance, string what)
    {
        actual.shape.Should().Equal(expected.shape, what);
        double diff = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max().item<double>();
        double scale = Math.Max(1.0, expected.to(ScalarType.Float64).abs().max().item<double>());
        diff.Should().BeLessThanOrEqualTo(tolerance * scale, what);
    }

    [Theory]
    [InlineData(1, 1, 2, 4, 7, 1)]
    [InlineData(2, 2, 9, 8, 33, 4)]
    [InlineData(3, 3, 17, 16, 101, 5)]
    [InlineData(4, 4, 32, 12, 257, 1024)]
    [InlineData(5, 1, 64, 32, 50, 7)]
    public void Loss_and_gradients_equal_the_full_logits_loss_over_random_shapes(int seed, long b, long n, long d, long v, int chunk)
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(seed, b, n, d, v);
        var naive = Naive(c);
        var chunked = Chunked(c, chunk);
        ShouldBeClose(chunked.Loss, naive.Loss, 1e-5, "loss");
        ShouldBeClose(chunked.GradHidden, naive.GradHidden, 1e-5, "gradient of the hidden states");
        ShouldBeClose(chunked.GradHead, naive.GradHead, 1e-5, "gradient of the head weight");
        naive.Loss.item<float>().Should().BeGreaterThan(0, "the case has weighted tokens");
    }

    [Fact]
    public void An_explicit_normaliser_divides_the_weighted_sum_like_the_full_logits_loss()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(11, 2, 12, 8, 40);
        var naive = Naive(c, normalizer: 37.5);
        var chunked = Chunked(c, 5, normalizer: 37.5);
        ShouldBeClose(chunked.Loss, naive.Loss, 1e-5, "loss");
        ShouldBeClose(chunked.GradHidden, naive.GradHidden, 1e-5, "gradient of the hidden states");
        ShouldBeClose(chunked.GradHead, naive.GradHead, 1e-5, "gradient of the head weight");
    }

    [Fact]
    public void Bf16_inputs_match_the_full_logits_loss_to_bf16_tolerance()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(21, 2, 24, 16, 64, ScalarType.BFloat16);
        var naive = Naive(c);
        var chunked = Chunked(c, 7);
        chunked.GradHidden.dtype.Should().Be(ScalarType.BFloat16);
        chunked.GradHead.dtype.Should().Be(ScalarType.BFloat16);
        ShouldBeClose(chunked.Loss, naive.Loss, 1e-3, "loss");
        ShouldBeClose(chunked.GradHidden, naive.GradHidden, 2e-2, "gradient of the hidden states");
        ShouldBeClose(chunked.GradHead, naive.GradHead, 2e-2, "gradient of the head weight");
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5, 1e-5)]
    [InlineData(ScalarType.BFloat16, 1e-3, 2e-2)]
    public void Soft_capped_logits_give_the_loss_and_gradients_of_capping_the_full_logits(ScalarType dtype, double lossTolerance, double gradientTolerance)
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(23, 2, 20, 16, 48, dtype);
        using (no_grad()) c.Hidden.mul_(3);                    // logits well past the cap, where tanh bends them
        var naive = Naive(c, softcap: 2.0);
        var chunked = Chunked(c, 6, softcap: 2.0);
        var uncapped = Naive(c);

        ShouldBeClose(chunked.Loss, naive.Loss, lossTolerance, "loss");
        ShouldBeClose(chunked.GradHidden, naive.GradHidden, gradientTolerance, "gradient of the hidden states");
        ShouldBeClose(chunked.GradHead, naive.GradHead, gradientTolerance, "gradient of the head weight");
        Math.Abs(uncapped.Loss.item<float>() - naive.Loss.item<float>()).Should().BeGreaterThan(0.1f, "the cap changes the loss");
    }

    [Fact]
    public void Zero_total_weight_gives_zero_loss_and_finite_zero_gradients()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(31, 2, 10, 8, 30);
        c = c with { Weights = zeros_like(c.Weights) };
        var chunked = Chunked(c, 4);
        chunked.Loss.item<float>().Should().Be(0);
        isfinite(chunked.GradHidden).all().item<bool>().Should().BeTrue();
        isfinite(chunked.GradHead).all().item<bool>().Should().BeTrue();
        chunked.GradHidden.abs().max().item<float>().Should().Be(0);
        chunked.GradHead.abs().max().item<float>().Should().Be(0);
    }

    [Fact]
    public void Hidden_rows_of_zero_weight_tokens_are_never_projected()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(41, 2, 16, 8, 30);
        // Rows 0..7 predict tokens 1..8 of each sequence; give those tokens weight 0 and poison the rows with NaN.
        Tensor weights = c.Weights.clone();
        weights[.., 1..9] = 0;
        Tensor hidden = c.Hidden.detach().clone();
        hidden[.., 0..8, ..] = float.NaN;
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(hidden, c.Head, c.Labels, weights, chunkSize: 3);
        isfinite(loss).item<bool>().Should().BeTrue("rows whose predicted token has weight 0 must be dropped before the projection");
        Tensor clean = c.Hidden.detach().clone();
        clean[.., 0..8, ..] = 0;
        Tensor reference = WeightedCrossEntropy.Compute(clean.matmul(c.Head.detach().t()), c.Labels, weights);
        ShouldBeClose(loss.detach(), reference, 1e-5, "loss");
    }

    [Fact]
    public void A_frozen_head_gets_no_gradient_while_the_hidden_gradient_still_matches()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(51, 2, 12, 8, 30);
        var naive = Naive(c);
        Tensor hidden = c.Hidden.detach().requires_grad_();
        Tensor head = c.Head.detach();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(hidden, head, c.Labels, c.Weights, chunkSize: 5);
        loss.backward();
        head.grad.Should().BeNull();
        ShouldBeClose(hidden.grad!, naive.GradHidden, 1e-5, "gradient of the hidden states");
    }

    [Fact]
    public void A_scaled_loss_backpropagates_scaled_gradients()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(61, 2, 12, 8, 30);
        var naive = Naive(c);
        Tensor hidden = c.Hidden.detach().requires_grad_(), head = c.Head.detach().requires_grad_();
        (ChunkedWeightedCrossEntropy.Compute(hidden, head, c.Labels, c.Weights, chunkSize: 4) * 2.5).backward();
        ShouldBeClose(hidden.grad!, naive.GradHidden * 2.5, 1e-5, "gradient of the hidden states");
        ShouldBeClose(head.grad!, naive.GradHead * 2.5, 1e-5, "gradient of the head weight");
    }

    [Fact]
    public void A_second_backward_through_a_retained_graph_recomputes_correct_gradients()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(65, 2, 12, 8, 30);
        var naive = Naive(c);
        Tensor hidden = c.Hidden.detach().requires_grad_(), head = c.Head.detach().requires_grad_();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(hidden, head, c.Labels, c.Weights, chunkSize: 4);
        loss.backward(retain_graph: true);
        ShouldBeClose(head.grad!, naive.GradHead, 1e-5, "gradient of the head weight after the first backward");
        // Clearing the gradients in place must not change what the second pass delivers.
        using (no_grad()) { head.grad!.zero_(); hidden.grad!.zero_(); }
        loss.backward();
        ShouldBeClose(hidden.grad!, naive.GradHidden, 1e-5, "gradient of the hidden states after the second backward");
        ShouldBeClose(head.grad!, naive.GradHead, 1e-5, "gradient of the head weight after the second backward");
    }

    [Fact]
    public void Without_gradients_only_the_loss_is_computed()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(71, 2, 12, 8, 30);
        var naive = Naive(c);
        using var noGrad = no_grad();
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(c.Hidden, c.Head, c.Labels, c.Weights, chunkSize: 4);
        loss.requires_grad.Should().BeFalse();
        ShouldBeClose(loss, naive.Loss, 1e-5, "loss");
    }

    [Fact]
    public void A_label_outside_the_vocabulary_is_rejected_with_a_clear_message()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(81, 1, 6, 4, 10);
        Tensor labels = c.Labels.clone();
        labels[0, 3] = 10;
        Tensor weights = ones_like(c.Weights);
        Action act = () => ChunkedWeightedCrossEntropy.Compute(c.Hidden, c.Head, labels, weights);
        act.Should().Throw<ArgumentException>().WithMessage("*labels must be token ids in [0, 10)*found 10*");
    }

    [Fact]
    public void A_head_that_does_not_match_the_hidden_size_is_rejected()
    {
        using var scope = NewDisposeScope();
        Case c = RandomCase(82, 1, 6, 4, 10);
        Action act = () => ChunkedWeightedCrossEntropy.Compute(c.Hidden, randn(10, 5), c.Labels, c.Weights);
        act.Should().Throw<ArgumentException>().WithMessage("*output weight must be [V, D] with D = 4*");
    }

    [Fact]
    public void A_model_without_hidden_states_falls_back_to_the_logits_loss()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var module = nn.Sequential(("embed", nn.Embedding(20, 8)), ("head", nn.Linear(8, 20)));
        var model = CausalLanguageModel.FromModule(module);
        var examples = new List<MaskedExample>
        {
            new([1, 2, 3, 4], [TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]),
            new([5, 6], [TokenRole.User, TokenRole.Assistant]),
        };
        using var batch = PaddingCollator.Pad(examples);
        Tensor weights = batch.Weights(0.3);
        float chunked = new ChunkedWeightedCrossEntropy(2).Compute(model, batch, weights).item<float>();
        float reference = new LogitsWeightedLoss().Compute(model, batch, weights).item<float>();
        chunked.Should().BeApproximately(reference, 1e-6f);
    }

    [Fact]
    public void A_chunk_size_below_one_is_rejected()
    {
        Action act = () => _ = new ChunkedWeightedCrossEntropy(0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*chunk size*");
    }
}
