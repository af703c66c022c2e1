using PromptLossWeight.Evaluation;
using PromptLossWeight.Testing;
using PromptLossWeight.Tests.Shared;
using PromptLossWeight.Tests.Support;
using PromptLossWeight.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Cuda;

/// <summary>The Trainer with <c>Device = cuda</c>: it trains, checkpoints, and resumes to the same parameters.</summary>
[Trait("Category", PromptLossWeight.Testing.Cuda.Category)]
public class TrainerCudaTests
{
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Train = TrainerTestData.Examples(24, seed: 8);
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Eval = TrainerTestData.Examples(8, seed: 9);

    private static TrainerOptions Options(string dir, Device device) => TrainerTestData.Options(dir) with
    {
        Device = device, BatchSize = 4, MaxSteps = 24, EvalSteps = 6, WarmupSteps = 2,
        LearningRateSchedule = LearningRateScheduleKind.Cosine, MaxGradNorm = 1.0,
    };

    private static (TrainResult Result, TinyCausalModel Model) Run(TrainerOptions options, long stopAt = long.MaxValue, long modelSeed = 1)
    {
        var model = new TinyCausalModel(seed: modelSeed);   // created on the CPU: the Trainer moves it
        var trainer = new Trainer(model, options, Train, Eval);
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => { if (s.Step == stopAt) c.RequestStop("simulated interruption"); } });
        return (trainer.Train(), model);
    }

    [SkippableFact]
    public void A_trainer_on_cuda_lowers_the_loss_saves_checkpoints_and_keeps_the_model_there()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var dir = new TempDir();

        var (result, model) = Run(Options(dir.Path, device));

        result.Steps.Should().Be(24);
        result.History[^1].Get(MetricNames.FullLoss).Should().BeLessThan(result.History[0].Get(MetricNames.FullLoss));
        Directory.Exists(dir.File("checkpoint-24")).Should().BeTrue();
        File.Exists(Path.Combine(dir.File("checkpoint-24"), "model.safetensors")).Should().BeTrue();
        model.OutputWeight.device.type.Should().Be(device.type);
    }

    [SkippableFact]
    public void On_cuda_training_N_steps_then_resuming_for_N_more_equals_2N_steps_bit_for_bit()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var straightDir = new TempDir();
        using var resumedDir = new TempDir();
        var straight = Run(Options(straightDir.Path, device));

        Run(Options(resumedDir.Path, device), stopAt: 12);
        var resumed = Run(Options(resumedDir.Path, device) with { ResumeFrom = TrainerOptions.Latest }, modelSeed: 99);

        resumed.Result.Steps.Should().Be(24);
        TrainerTestData.ShouldEqual(resumed.Model.Snapshot(), straight.Model.Snapshot(), tolerance: 0);
        resumed.Result.History.Should().Equal(straight.Result.History);
    }
}
