using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

/// <summary>Tests that count TorchSharp's live tensors, which are process-wide, so they run alone.</summary>
[CollectionDefinition(nameof(NativeMemoryCollection), DisableParallelization = true)]
public sealed class NativeMemoryCollection;

[Collection(nameof(NativeMemoryCollection))]
public class MemoryTests
{
    [Fact]
    public void The_live_native_tensor_count_after_300_steps_equals_the_count_after_10()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with
        {
            MaxSteps = 300, EvalSteps = 50, GradientAccumulationSteps = 2, MaxGradNorm = 1.0, SaveTotalLimit = 1,
            PromptLossWeightSchedule = PromptLossWeightSchedule.Cosine(1, 0.1, 300),
        };
        var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(24, seed: 8), TrainerTestData.Examples(8, seed: 9));
        var counts = new Dictionary<long, long>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => { if (s.Step is 10 or 100 or 300) counts[s.Step] = Tensor.TotalCount; } });

        // Tensors other tests dropped without disposing are counted until finalised: finalise them first.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        trainer.Train();

        counts.Should().HaveCount(3);
        counts[300].Should().Be(counts[10], "every step and every evaluation/checkpoint in between must free what it allocates");
        counts[100].Should().Be(counts[10]);
    }
}
