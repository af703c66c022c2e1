using PromptLossWeight.Masking;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class ValidationTests
{
    private static TrainerOptions Valid => TrainerTestData.Options(Path.Combine(Path.GetTempPath(), "plw-never-written"));

    public static TheoryData<string, Func<TrainerOptions, TrainerOptions>> InvalidOptions => new()
    {
        { "PromptLossWeight", o => o with { PromptLossWeight = -0.5 } },
        { "PromptLossWeight", o => o with { PromptLossWeight = double.NaN } },
        { "BatchSize", o => o with { BatchSize = 0 } },
        { "GradientAccumulationSteps", o => o with { GradientAccumulationSteps = 0 } },
        { "OutputDirectory", o => o with { OutputDirectory = " " } },
        { "LearningRate", o => o with { LearningRate = double.NaN } },
        { "EvalEpochFraction", o => o with { EvalSteps = 5, EvalEpochFraction = 0.5 } },
        { "MaxSteps", o => o with { MaxSteps = 0 } },
        { "Epochs", o => o with { Epochs = 0 } },
        { "EarlyStoppingPatience", o => o with { EarlyStoppingPatience = 0 } },
        { "SaveTotalLimit", o => o with { SaveTotalLimit = 0 } },
        { "MaxGradNorm", o => o with { MaxGradNorm = -1 } },
        { "AnswerTokenIds", o => o with { AnswerTokenIds = [3, 3] } },
        { "RoleWeights", o => o with { RoleWeights = new RoleWeights(0, -1, 1) } },
        { "RoleWeights", o => o with { RoleWeights = new RoleWeights(0, 0.1, 1), PromptLossWeightSchedule = PromptLossWeightSchedule.Constant(0.1) } },
        { "Beta2", o => o with { Beta2 = 1.0 } },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Invalid_options_are_rejected_at_construction_with_the_option_named(string option, Func<TrainerOptions, TrainerOptions> change)
    {
        var act = () => new Trainer(new TinyCausalModel(), change(Valid), TrainerTestData.Examples(4, seed: 19));

        act.Should().Throw<ArgumentException>().WithMessage($"TrainerOptions.{option}*");
    }

    [Fact]
    public void An_output_directory_that_cannot_be_written_fails_before_any_training()
    {
        using var dir = new TempDir();
        string blocked = dir.File("a-file");
        File.WriteAllText(blocked, "not a folder");
        var trainer = new Trainer(new TinyCausalModel(), TrainerTestData.Options(Path.Combine(blocked, "out")), TrainerTestData.Examples(4, seed: 19));
        int steps = 0;
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (_, _) => steps++ });

        var act = () => trainer.Train();

        act.Should().Throw<IOException>().WithMessage("The output directory*a-file*cannot be written*no training was done*");
        steps.Should().Be(0);
    }

    [Fact]
    public void Examples_whose_roles_do_not_match_their_tokens_are_rejected_with_their_index()
    {
        var data = TrainerTestData.Examples(3, seed: 20);
        data.Add(new MaskedExample([1, 2, 3], [TokenRole.User, TokenRole.Assistant]));

        var act = () => new Trainer(new TinyCausalModel(), Valid, data);

        act.Should().Throw<ArgumentException>().WithMessage("The training example 3 has 3 token ids but 2 roles.");
    }

    [Fact]
    public void Empty_training_data_is_rejected() =>
        ((Action)(() => new Trainer(new TinyCausalModel(), Valid, []))).Should().Throw<ArgumentException>().WithMessage("The training data is empty*");

    [Fact]
    public void A_schedule_that_returns_an_invalid_plw_stops_with_the_step_named()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 5, PromptLossWeightSchedule = new BrokenSchedule() };
        var act = () => new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(8, seed: 21)).Train();

        act.Should().Throw<InvalidOperationException>().WithMessage("The prompt loss weight schedule returned NaN at step 2*");
    }

    [Fact]
    public void A_metric_for_best_that_is_never_computed_is_a_clear_error()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 2, EvalSteps = 1, MetricForBest = "acuracy" };
        var act = () => new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(8, seed: 21), TrainerTestData.Examples(2, seed: 22)).Train();

        act.Should().Throw<InvalidOperationException>().WithMessage("TrainerOptions.MetricForBest is 'acuracy'*completion_loss*");
    }

    private sealed class BrokenSchedule : IPromptLossWeightSchedule
    {
        public double ValueAt(long step, long totalSteps, IReadOnlyList<PromptLossWeight.Evaluation.MetricRecord> history) => step < 2 ? 0.5 : double.NaN;
    }
}

/// <summary>The weight checks the trainer reads once per step (deferred) still stop a step with bad weights.</summary>
public class StepWeightCheckTests
{
    private sealed class BadWeightsTrainer(double bad, long atStep, TrainerOptions options, IReadOnlyList<MaskedExample> train)
        : Trainer(new TinyCausalModel(), options, train)
    {
        protected override TorchSharp.torch.Tensor LossWeights(PromptLossWeight.Batching.Batch batch, RoleWeights roleWeights)
        {
            var weights = base.LossWeights(batch, roleWeights);
            if (State.Step == atStep) weights[0, 1] = TorchSharp.torch.tensor(bad, dtype: weights.dtype);
            return weights;
        }
    }

    [Theory]
    [InlineData(double.NaN, "*contain NaN or infinity*")]
    [InlineData(-1.0, "*contain negative values*")]
    public void Weights_that_turn_bad_at_a_later_step_stop_training_with_the_weight_error_before_that_step_updates(double bad, string message)
    {
        using var dir = new TempDir();
        var trainer = new BadWeightsTrainer(bad, atStep: 2, TrainerTestData.Options(dir.Path) with { MaxSteps = 4, EvalSteps = 1 },
            TrainerTestData.Examples(8, seed: 3));
        var stepsSeen = new List<long>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, _) => stepsSeen.Add(s.Step) });

        Action train = () => trainer.Train();

        train.Should().Throw<ArgumentException>().WithParameterName("weights").WithMessage(message);
        stepsSeen.Should().Equal(1, 2);
        trainer.State.Step.Should().Be(2, "the step with bad weights never completes");
    }
}
