using PromptLossWeight.Loss;
using PromptLossWeight.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Cuda;

/// <summary>The chunked loss on CUDA against the logits path on CUDA: the same loss and gradients.</summary>
[Trait("Category", PromptLossWeight.Testing.Cuda.Category)]
public class ChunkedLossCudaTests
{
    private static (Tensor Hidden, Tensor Head, Tensor Labels, Tensor Weights) Inputs(Device device, ScalarType dtype, long seed)
    {
        var g = new Generator((ulong)seed);
        Tensor hidden = randn([2, 40, 32], generator: g).to(dtype).to(device);
        Tensor head = (randn([300, 32], generator: g) * 0.5).to(dtype).to(device);
        Tensor labels = randint(0, 300, [2, 40], generator: g, dtype: ScalarType.Int64);
        labels = where(rand([2, 40], generator: g).lt(0.2), full_like(labels, WeightedCrossEntropy.IgnoreIndex), labels).to(device);
        Tensor weights = where(rand([2, 40], generator: g).lt(0.3), zeros([2, 40]), rand([2, 40], generator: g)).to(device);
        return (hidden, head, labels, weights);
    }

    private static (Tensor Loss, Tensor GradHidden, Tensor GradHead) Run(bool chunked, (Tensor Hidden, Tensor Head, Tensor Labels, Tensor Weights) c)
    {
        Tensor hidden = c.Hidden.detach().requires_grad_(), head = c.Head.detach().requires_grad_();
        Tensor loss = chunked
            ? ChunkedWeightedCrossEntropy.Compute(hidden, head, c.Labels, c.Weights, chunkSize: 16)
            : WeightedCrossEntropy.Compute(hidden.matmul(head.t()), c.Labels, c.Weights);
        loss.backward();
        return (loss.detach().cpu().to(ScalarType.Float32), hidden.grad!.cpu().to(ScalarType.Float32), head.grad!.cpu().to(ScalarType.Float32));
    }

    private static void Close(Tensor actual, Tensor expected, double relative, string what)
    {
        double scale = Math.Max(1.0, expected.abs().max().item<float>());
        double diff = (actual - expected).abs().max().item<float>();
        diff.Should().BeLessThanOrEqualTo(relative * scale, what);
    }

    [SkippableFact]
    public void On_cuda_in_fp32_the_chunked_loss_and_its_gradients_equal_the_logits_path_to_1e_5()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var scope = NewDisposeScope();
        var inputs = Inputs(device, ScalarType.Float32, seed: 3);
        var chunked = Run(chunked: true, inputs);
        var logits = Run(chunked: false, inputs);
        Close(chunked.Loss, logits.Loss, 1e-5, "loss");
        Close(chunked.GradHidden, logits.GradHidden, 1e-5, "gradient of the hidden states");
        Close(chunked.GradHead, logits.GradHead, 1e-5, "gradient of the head weight");
    }

    [SkippableFact]
    public void On_cuda_in_bf16_the_chunked_loss_equals_the_fp32_loss_to_1e_3_and_its_gradients_to_2e_2()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var scope = NewDisposeScope();
        var bf16 = Inputs(device, ScalarType.BFloat16, seed: 4);
        // The reference: the logits path in fp32 on the same (bf16-rounded) inputs.
        var reference = Run(chunked: false, (bf16.Hidden.to(ScalarType.Float32), bf16.Head.to(ScalarType.Float32), bf16.Labels, bf16.Weights));
        var chunked = Run(chunked: true, bf16);
        Close(chunked.Loss, reference.Loss, 1e-3, "loss");
        Close(chunked.GradHidden, reference.GradHidden, 2e-2, "gradient of the hidden states");
        Close(chunked.GradHead, reference.GradHead, 2e-2, "gradient of the head weight");
    }
}
