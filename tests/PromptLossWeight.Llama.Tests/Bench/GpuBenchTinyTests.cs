using PromptLossWeight.Bench;

namespace PromptLossWeight.Llama.Tests.Bench;

/// <summary>
/// The GPU benchmark's code paths (loss children, training children, ratio lines) run with tiny shapes on whatever device
/// is here, so that the GPU mode is not dead code on machines without a GPU.
/// </summary>
[CollectionDefinition("bench console", DisableParallelization = true)]
public sealed class BenchConsoleCollection;

[Collection("bench console")]
public class GpuBenchTinyTests
{
    [Fact]
    public void The_gpu_bench_with_tiny_shapes_times_both_losses_at_both_weight_patterns_and_trains_both_shapes()
    {
        var output = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(output);
        try
        {
            GpuBenchmarks.Run(tiny: true);
        }
        finally
        {
            Console.SetOut(original);
        }

        string[] lines = output.ToString().Split('\n');
        foreach (string pattern in GpuBenchmarks.WeightPatterns)
            lines.Should().Contain(l => l.StartsWith($"ratio gpu_loss_time_chunked_over_logits_{pattern} ", StringComparison.Ordinal));
        foreach (string shape in GpuBenchmarks.TrainShapes)
        {
            string line = lines.Single(l => l.StartsWith($"value gpu_{shape}_tokens_per_s ", StringComparison.Ordinal));
            double.Parse(line.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture).Should().BeGreaterThan(0);
        }
    }
}
