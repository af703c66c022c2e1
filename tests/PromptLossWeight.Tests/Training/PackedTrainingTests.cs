using PromptLossWeight.Loss;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class PackedTrainingTests
{
    private static Dictionary<string, float[]> Snapshot(TinyDocumentModel model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());

    // Both runs of a comparison start from these weights. (Constructing a second model from the same seed is not
    // enough: other test classes draw from the global generator in parallel.)
    private readonly Dictionary<string, float[]> _initial = Snapshot(new TinyDocumentModel(seed: 11, vocabulary: 16));

    private (List<double> Losses, Dictionary<string, float[]> Parameters) Run(TrainerOptions options, List<PromptLossWeight.Masking.MaskedExample> examples)
    {
        var model = new TinyDocumentModel(seed: 11, vocabulary: 16);
        using (var noGrad = TorchSharp.torch.no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                using var initial = TorchSharp.torch.tensor(_initial[name], parameter.shape);
                parameter.copy_(initial);
            }
        }
        var losses = new List<double>();
        var trainer = new Trainer(model, options, examples);
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => losses.Add(s.StepLoss) });
        trainer.Train();
        return (losses, Snapshot(model));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(1.0)]
    public void A_packed_training_step_has_the_loss_and_update_of_the_same_examples_padded(double plw)
    {
        var examples = TrainerTestData.Examples(12, seed: 31);
        using var paddedDir = new TempDir();
        using var packedDir = new TempDir();
        TrainerOptions Options(string dir) => TrainerTestData.Options(dir) with
        {
            MaxSteps = 1, EvalSteps = 100, PromptLossWeight = plw, LearningRate = 1e-3,
        };

        // One step over all twelve examples: padded as one batch of 12, or packed into rows of 24 (at most 12 rows).
        var padded = Run(Options(paddedDir.Path) with { BatchSize = 12 }, examples);
        var packed = Run(Options(packedDir.Path) with { BatchSize = 12, PackedRowLength = 24 }, examples);

        packed.Losses.Should().ContainSingle().Which.Should().BeApproximately(padded.Losses.Single(), 1e-5);
        TrainerTestData.ShouldEqual(packed.Parameters, padded.Parameters, 1e-5);
    }

    [Fact]
    public void Packing_puts_several_examples_in_a_row_so_an_epoch_takes_fewer_steps()
    {
        var examples = TrainerTestData.Examples(24, seed: 32);
        using var paddedDir = new TempDir();
        using var packedDir = new TempDir();
        var options = TrainerTestData.Options(paddedDir.Path) with { BatchSize = 2, Epochs = 1, EvalSteps = 100, Loss = new LogitsWeightedLoss() };

        var padded = Run(options, examples);
        var packed = Run(options with { OutputDirectory = packedDir.Path, PackedRowLength = 32 }, examples);

        padded.Losses.Should().HaveCount(12);
        packed.Losses.Count.Should().BeLessThan(6, "rows of 32 tokens hold about four of these 3-10 token examples");
        packed.Losses.Should().OnlyContain(l => double.IsFinite(l));
    }

    [Fact]
    public void The_trainer_publishes_its_planned_total_steps_and_packing_counts_in_them()
    {
        var examples = TrainerTestData.Examples(24, seed: 32);
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { BatchSize = 2, Epochs = 2, EvalSteps = 100, PackedRowLength = 32 };
        var steps = new List<long>();

        var trainer = new Trainer(new TinyDocumentModel(seed: 11, vocabulary: 16), options, examples);
        long planned = trainer.TotalSteps;
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, c) => steps.Add(s.TotalSteps) });
        TrainResult result = trainer.Train();

        Trainer.PlanTotalSteps(options, examples).Should().Be(planned);
        planned.Should().BeLessThan(Trainer.PlanTotalSteps(options with { PackedRowLength = null }, examples));
        result.Steps.Should().Be(planned);
        steps.Should().OnlyContain(total => total == planned);
    }

    [Fact]
    public void A_row_length_below_two_tokens_is_rejected()
    {
        using var dir = new TempDir();
        var act = () => new Trainer(new TinyDocumentModel(seed: 1, vocabulary: 16), TrainerTestData.Options(dir.Path) with { PackedRowLength = 1 },
            TrainerTestData.Examples(4, seed: 1));
        act.Should().Throw<ArgumentException>().WithMessage("*PackedRowLength*at least 2*");
    }
}
