using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class ResumeTests
{
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Train = TrainerTestData.Examples(20, seed: 4);
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Eval = TrainerTestData.Examples(6, seed: 5);

    private static TrainerOptions Options(string dir) => TrainerTestData.Options(dir) with
    {
        BatchSize = 3, GradientAccumulationSteps = 2, MaxSteps = 20, EvalSteps = 5, // 7 micro-batches = 4 steps per epoch
        WarmupSteps = 3, LearningRateSchedule = LearningRateScheduleKind.Cosine, MaxGradNorm = 0.5, WeightDecay = 0.01,
        PromptLossWeightSchedule = PromptLossWeightSchedule.Linear(1.0, 0.0, 16),
    };

    private static (TrainResult Result, TinyCausalModel Model) Run(TrainerOptions options, long stopAt = long.MaxValue, long modelSeed = 1, ListLogger? logger = null)
    {
        var model = new TinyCausalModel(seed: modelSeed);
        var trainer = new Trainer(model, options, Train, Eval, logger);
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => { if (s.Step == stopAt) c.RequestStop("simulated interruption"); } });
        return (trainer.Train(), model);
    }

    [Fact]
    public void Training_2N_steps_equals_N_steps_then_resume_and_N_more()
    {
        using var straightDir = new TempDir();
        using var resumedDir = new TempDir();
        var straight = Run(Options(straightDir.Path));

        var first = Run(Options(resumedDir.Path), stopAt: 10);
        first.Result.Steps.Should().Be(10);
        first.Result.StopReason.Should().Be("simulated interruption");
        var resumed = Run(Options(resumedDir.Path) with { ResumeFrom = TrainerOptions.Latest }, modelSeed: 99);

        resumed.Result.Steps.Should().Be(20);
        TrainerTestData.ShouldEqual(resumed.Model.Snapshot(), straight.Model.Snapshot(), tolerance: 0);
        resumed.Result.History.Select(r => r.Step).Should().Equal(5, 10, 15, 20);
        resumed.Result.History.Should().Equal(straight.Result.History);
        File.ReadAllText(Path.Combine(resumedDir.Path, "metrics.csv")).Should().Be(File.ReadAllText(Path.Combine(straightDir.Path, "metrics.csv")));
    }

    [Fact]
    public void Resume_from_latest_skips_corrupt_and_incomplete_checkpoints_with_a_warning_and_still_ends_identical()
    {
        using var straightDir = new TempDir();
        using var dir = new TempDir();
        var straight = Run(Options(straightDir.Path));
        Run(Options(dir.Path), stopAt: 10);
        // Corrupt the newest checkpoint (one flipped byte) and fake an incomplete newer one without a manifest.
        string model10 = Path.Combine(dir.Path, "checkpoint-10", "model.safetensors");
        byte[] bytes = File.ReadAllBytes(model10);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(model10, bytes);
        Directory.CreateDirectory(Path.Combine(dir.Path, "checkpoint-15"));
        File.WriteAllText(Path.Combine(dir.Path, "checkpoint-15", "model.safetensors"), "partial");
        var logger = new ListLogger();

        var resumed = Run(Options(dir.Path) with { ResumeFrom = TrainerOptions.Latest }, modelSeed: 99, logger: logger);

        logger.Warnings.Should().Contain(w => w.Contains("checkpoint-10") && w.Contains("SHA-256"));
        logger.Warnings.Should().Contain(w => w.Contains("checkpoint-15") && w.Contains("manifest"));
        logger.Entries.Should().Contain(e => e.Message.Contains("Resumed from") && e.Message.Contains("checkpoint-5"));
        TrainerTestData.ShouldEqual(resumed.Model.Snapshot(), straight.Model.Snapshot(), tolerance: 0);
    }

    [Fact]
    public void Resuming_from_a_checkpoint_of_a_model_of_a_different_shape_fails_before_any_step()
    {
        using var dir = new TempDir();
        Run(Options(dir.Path) with { MaxSteps = 5 });
        var other = new TinyCausalModel(dim: 6);
        int steps = 0;
        var trainer = new Trainer(other, Options(dir.Path) with { ResumeFrom = "checkpoint-5" }, Train, Eval);
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (_, _) => steps++ });

        var act = () => trainer.Train();

        act.Should().Throw<InvalidDataException>().WithMessage("*checkpoint-5*different shape*embed.weight*[16, 8]*[16, 6]*");
        steps.Should().Be(0);
    }

    [Fact]
    public void Resuming_from_a_named_checkpoint_that_is_corrupt_is_an_error_naming_the_file()
    {
        using var dir = new TempDir();
        Run(Options(dir.Path) with { MaxSteps = 5 });
        File.Delete(Path.Combine(dir.Path, "checkpoint-5", "trainer_state.json"));

        var act = () => Run(Options(dir.Path) with { ResumeFrom = "checkpoint-5" });

        act.Should().Throw<InvalidDataException>().WithMessage("*checkpoint-5*trainer_state.json is missing*");
    }
}
