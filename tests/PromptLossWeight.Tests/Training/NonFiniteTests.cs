using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

public class NonFiniteTests
{
    /// <summary>Poisons the loss (NaN) or only the gradient (loss finite) at chosen steps.</summary>
    private sealed class PoisonTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train,
        IReadOnlyList<MaskedExample>? eval = null) : Trainer(model, options, train, eval)
    {
        public Func<long, bool> NanLossAt { get; init; } = _ => false;
        public Func<long, bool> NanGradientAt { get; init; } = _ => false;

        protected override Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer)
        {
            Tensor loss = base.ComputeLoss(model, batch, weights, normalizer);
            if (NanLossAt(State.Step)) return loss * double.NaN;
            if (NanGradientAt(State.Step))
            {
                // sqrt(0) is 0, but its derivative is infinite: 0·∞ puts NaN into every gradient while the loss stays finite.
                Tensor zero = model.Module.parameters().First().sum() * 0;
                return loss + zero.sqrt();
            }
            return loss;
        }
    }

    private static TrainerOptions Options(string dir) => TrainerTestData.Options(dir) with { MaxSteps = 6, EvalSteps = 2 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_skip_a_non_finite_step_leaves_parameters_unchanged_is_counted_and_training_continues(bool gradientOnly)
    {
        using var dir = new TempDir();
        var model = new TinyCausalModel();
        Func<long, bool> poisoned = s => s is 2 or 3;
        var trainer = new PoisonTrainer(model, Options(dir.Path), TrainerTestData.Examples(12, seed: 17), TrainerTestData.Examples(4, seed: 18))
        {
            NanLossAt = gradientOnly ? _ => false : poisoned,
            NanGradientAt = gradientOnly ? poisoned : _ => false,
        };
        var snapshots = new List<Dictionary<string, float[]>> { model.Snapshot() };
        var skipped = new List<bool>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => { snapshots.Add(model.Snapshot()); skipped.Add(s.StepSkipped); } });

        TrainResult result = trainer.Train();

        result.Steps.Should().Be(6);
        result.SkippedSteps.Should().Be(2);
        skipped.Should().Equal(false, false, true, true, false, false);
        TrainerTestData.ShouldEqual(snapshots[3], snapshots[2], tolerance: 0);
        TrainerTestData.ShouldEqual(snapshots[4], snapshots[2], tolerance: 0);
        snapshots[5]["head.weight"].Should().NotEqual(snapshots[4]["head.weight"]);
        snapshots[6].Values.SelectMany(v => v).Should().OnlyContain(x => float.IsFinite(x));
    }

    [Fact]
    public void With_skip_K_non_finite_steps_in_a_row_stop_with_a_clear_error_and_leave_the_last_checkpoint_untouched()
    {
        using var dir = new TempDir();
        var trainer = new PoisonTrainer(new TinyCausalModel(), Options(dir.Path) with { MaxConsecutiveNonFiniteSteps = 3 },
            TrainerTestData.Examples(12, seed: 17), TrainerTestData.Examples(4, seed: 18)) { NanLossAt = s => s >= 2 };
        var saved = new List<(string Path, string Manifest)>();
        trainer.Callbacks.Add(new LambdaCallback { Save = (_, _, path) => saved.Add((path, File.ReadAllText(Path.Combine(path, "manifest.json")))) });

        var act = () => trainer.Train();

        // Steps 2, 3 and 4 are non-finite; the checkpoint of step 4 (after two skipped updates) holds finite state.
        act.Should().Throw<NonFiniteTrainingException>().WithMessage("3 non-finite steps in a row (last at step 4*MaxConsecutiveNonFiniteSteps = 3*")
            .Which.Step.Should().Be(4);
        TrainerCheckpoints.ListComplete(dir.Path).Select(c => c.Path).Should().Equal(saved.Select(s => s.Path));
        foreach (var (path, manifest) in saved) File.ReadAllText(Path.Combine(path, "manifest.json")).Should().Be(manifest);
        saved.Select(s => Path.GetFileName(s.Path)).Should().Equal("checkpoint-2", "checkpoint-4");
    }

    [Fact]
    public void With_stop_the_first_non_finite_step_stops_training()
    {
        using var dir = new TempDir();
        var trainer = new PoisonTrainer(new TinyCausalModel(), Options(dir.Path) with { NonFinitePolicy = NonFinitePolicy.Stop },
            TrainerTestData.Examples(12, seed: 17)) { NanGradientAt = s => s == 3 };

        var act = () => trainer.Train();

        act.Should().Throw<NonFiniteTrainingException>().WithMessage("Non-finite gradient at step 3*NonFinitePolicy.Stop*");
        TrainerCheckpoints.ListComplete(dir.Path).Select(c => c.Step).Should().Equal(2);
    }

    [Fact]
    public void A_checkpoint_is_never_written_from_non_finite_parameters()
    {
        using var dir = new TempDir();
        var model = new TinyCausalModel();
        var trainer = new Trainer(model, Options(dir.Path), TrainerTestData.Examples(12, seed: 17));
        trainer.Callbacks.Add(new LambdaCallback
        {
            StepEnd = (s, c) =>
            {
                if (s.Step != 3) return;
                using var noGrad = no_grad();
                model.named_parameters().First().parameter.fill_(float.PositiveInfinity); // corrupted outside the loop's checks
            },
        });

        var act = () => trainer.Train();

        act.Should().Throw<NonFiniteTrainingException>().WithMessage("*not finite at step 4; refusing to write a checkpoint*");
        TrainerCheckpoints.ListComplete(dir.Path).Select(c => c.Step).Should().Equal(2);
        Directory.EnumerateDirectories(dir.Path).Select(Path.GetFileName).Should().Equal("checkpoint-2");
    }
}
