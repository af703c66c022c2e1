using PromptLossWeight.Samples.Race;
using PromptLossWeight.Testing;
using PromptLossWeight.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace Race.Tests;

/// <summary><c>samples/Race --device cuda</c> end to end, with a tiny model and a few steps.</summary>
[Collection("console")]
[Trait("Category", PromptLossWeight.Testing.Cuda.Category)]
public sealed class CudaEndToEndTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void The_race_sample_with_device_cuda_runs_a_small_sweep_and_writes_its_metrics_and_report()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        string output = _dir.File("out");

        int code = Program.Main(
        [
            "--device", device.type == DeviceType.CUDA ? "cuda" : "cpu", "--output", output, "--plw", "1,0",
            "--max-steps", "6", "--eval-steps", "3", "--batch-size", "8", "--synthetic-examples", "32", "--max-eval-examples", "16",
            "--hidden-size", "16", "--layers", "1", "--heads", "2",
        ]);

        code.Should().Be(0);
        File.ReadAllLines(Path.Combine(output, "metrics.csv")).Should().HaveCount(1 + 2 * 2, "a header and two evaluations for each PLW");
        File.Exists(Path.Combine(output, "report.md")).Should().BeTrue();
    }
}
