using PromptLossWeight.IO;
using PromptLossWeight.Llama.Tests.Support;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Cuda;

/// <summary>The NCCL backend on one GPU: every collective goes through NCCL (a world of one), against training without it.</summary>
[Trait("Category", PromptLossWeight.Testing.Cuda.Category)]
[Collection(nameof(Distributed.DataParallelCollection))]
public class NcclTests
{
    [SkippableFact]
    public void A_world_of_one_through_NCCL_trains_the_parameters_that_training_without_it_does()
    {
        PromptLossWeight.Testing.Cuda.Device();
        string plain = Tiny.TempDir(), nccl = Tiny.TempDir();

        WorkerRun alone = WorkerProcess.Alone(null, "--output", plain, "--device", "cuda");
        WorkerRun world = WorkerProcess.Alone(new Dictionary<string, string> { ["RANK"] = "0", ["WORLD_SIZE"] = "1", ["LOCAL_RANK"] = "0" },
            "--output", nccl, "--device", "cuda", "--distributed", "--backend", "nccl");

        alone.ExitCode.Should().Be(0, alone.Output);
        world.ExitCode.Should().Be(0, world.Output);
        using var scope = NewDisposeScope();
        var expected = SafeTensors.Load(Path.Combine(plain, "parameters-rank0.safetensors"));
        var actual = SafeTensors.Load(Path.Combine(nccl, "parameters-rank0.safetensors"));
        expected.Max(kv => (actual[kv.Key] - kv.Value).abs().max().item<float>())
            .Should().BeLessThan(1e-6f, "NCCL's sums over one rank change nothing, and its broadcasts hand rank 0's values back");
    }
}
