using System.Text.Json.Nodes;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class TrainerStateTests
{
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Train = TrainerTestData.Examples(12, seed: 40);
    private static readonly List<PromptLossWeight.Masking.MaskedExample> Eval = TrainerTestData.Examples(4, seed: 41);

    private static TrainerOptions Options(string dir) => TrainerTestData.Options(dir) with { BatchSize = 3, MaxSteps = 8, EvalSteps = 4 };

    [Fact]
    public void Callbacks_the_trainer_and_the_result_share_one_state_object_that_follows_every_step()
    {
        using var dir = new TempDir();
        var trainer = new Trainer(new TinyCausalModel(), Options(dir.Path), Train, Eval);
        var seen = new List<(TrainerState State, long Step, double Loss, int Rows)>();
        trainer.Callbacks.Add(new LambdaCallback { StepEnd = (s, _) => seen.Add((s, s.Step, s.StepLoss, s.History.Count)) });

        TrainResult result = trainer.Train();

        seen.Select(x => x.Step).Should().Equal(1, 2, 3, 4, 5, 6, 7, 8);
        seen.Should().OnlyContain(x => ReferenceEquals(x.State, trainer.State), "callbacks get the trainer's own state, not a copy");
        result.State.Should().BeSameAs(trainer.State);
        seen.Select(x => x.Rows).Should().Equal([0, 0, 0, 0, 1, 1, 1, 1], "the history row of step 4 is added after that step's callbacks");
        seen.Should().OnlyContain(x => double.IsFinite(x.Loss) && x.Loss > 0);
        trainer.State.TotalSteps.Should().Be(8);
        trainer.State.History.Select(r => r.Step).Should().Equal(4, 8);
        result.History.Should().BeSameAs(trainer.State.History);
    }

    [Fact]
    public void The_checkpoint_holds_the_state_as_snake_case_json_with_the_history_as_an_array_that_reads_back_equal()
    {
        using var dir = new TempDir();
        var trainer = new Trainer(new TinyCausalModel(), Options(dir.Path), Train, Eval);
        TrainResult result = trainer.Train();

        string json = File.ReadAllText(Path.Combine(result.LastCheckpointPath!, "trainer_state.json"));
        JsonObject o = JsonNode.Parse(json)!.AsObject();
        o["format_version"]!.GetValue<int>().Should().Be(TrainerState.CurrentFormatVersion);
        o["step"]!.GetValue<long>().Should().Be(8);
        o["history"].Should().BeOfType<JsonArray>().Which.Count.Should().Be(2);
        o["history"]![1]!["metrics"]![MetricNames.CompletionLoss]!.GetValue<double>().Should().Be(result.History[1].Get(MetricNames.CompletionLoss));

        TrainerState read = TrainerState.FromJson(json);
        read.History.Should().Equal(result.History);
        read.Step.Should().Be(8);
        read.BestStep.Should().Be(result.State.BestStep);
        read.RunId.Should().Be(result.State.RunId);
    }

    [Fact]
    public void A_state_file_of_another_format_is_refused_with_a_line_naming_the_file()
    {
        Action read = () => TrainerState.FromJson("""{"format_version": 1, "history": "{}"}""", "ckpt/trainer_state.json");

        read.Should().Throw<InvalidDataException>().WithMessage("ckpt/trainer_state.json: *");
    }

    [Fact]
    public void A_callback_can_ask_for_an_evaluation_and_checkpoint_at_a_step_that_is_not_due()
    {
        using var dir = new TempDir();
        var trainer = new Trainer(new TinyCausalModel(), Options(dir.Path), Train, Eval);
        var saved = new List<long>();
        trainer.Callbacks.Add(new LambdaCallback
        {
            StepEnd = (s, c) => { if (s.Step == 3) c.RequestEvaluation(); },
            Save = (s, _, _) => saved.Add(s.Step),
        });

        TrainResult result = trainer.Train();

        result.History.Select(r => r.Step).Should().Equal(3, 4, 8);
        saved.Should().Equal(3, 4, 8);
        Directory.Exists(Path.Combine(dir.Path, "checkpoint-3")).Should().BeTrue();
    }
}
