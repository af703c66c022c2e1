using PromptLossWeight.Evaluation;
using PromptLossWeight.Tests.Training;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Evaluation;

public class MetricHistoryTests
{
    [Fact]
    public void The_history_is_written_as_csv_and_json_lines_after_every_evaluation()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { MaxSteps = 6, EvalSteps = 3, AnswerTokenIds = [3, 4] };
        var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 10), TrainerTestData.Examples(4, seed: 11));
        var linesAfterEvaluation = new List<int>();
        trainer.Callbacks.Add(new LambdaCallback { Save = (_, _, _) => linesAfterEvaluation.Add(File.ReadAllLines(Path.Combine(dir.Path, "metrics.csv")).Length) });

        TrainResult result = trainer.Train();

        linesAfterEvaluation.Should().Equal(2, 3);
        string[] csv = File.ReadAllLines(Path.Combine(dir.Path, MetricHistory.CsvFileName));
        csv[0].Should().Be("step,epoch,plw,learning_rate,train_loss,prompt_loss,completion_loss,full_loss,completion_token_accuracy,accuracy,weighted_loss,weighted_loss_nonzero");
        csv[1].Split(',')[0].Should().Be("3");
        csv[2].Split(',')[0].Should().Be("6");
        var fromJson = MetricHistory.FromJsonLines(File.ReadAllText(Path.Combine(dir.Path, MetricHistory.JsonLinesFileName)));
        fromJson.Should().Equal(result.History);
        result.History.Should().OnlyContain(r => double.IsFinite(r.TrainLoss) && double.IsFinite(r.Get(MetricNames.CompletionLoss)));
    }

    [Fact]
    public void Nan_is_an_empty_csv_cell_and_a_json_null_and_reads_back_as_nan()
    {
        var records = new List<MetricRecord>
        {
            new(1, 0.5, 0.1, 1e-3, double.NaN, new Dictionary<string, double> { [MetricNames.CompletionLoss] = 1.25, ["custom"] = double.NaN }),
        };

        MetricHistory.ToCsv(records).Should().Be(
            "step,epoch,plw,learning_rate,train_loss,prompt_loss,completion_loss,full_loss,completion_token_accuracy,accuracy,weighted_loss,weighted_loss_nonzero,custom\n" +
            "1,0.5,0.1,0.001,,,1.25,,,,,,\n");
        string jsonl = MetricHistory.ToJsonLines(records);
        jsonl.Should().Contain("\"train_loss\":null");
        MetricHistory.FromJsonLines(jsonl).Should().Equal(records);
    }

    [Fact]
    public void Evaluation_every_half_epoch_over_two_epochs_gives_four_rows_with_fractional_epochs()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { Epochs = 2, EvalEpochFraction = 0.5 }; // 16 examples / 4 = 4 steps per epoch
        var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(16, seed: 23), TrainerTestData.Examples(4, seed: 24));

        TrainResult result = trainer.Train();

        result.Steps.Should().Be(8);
        result.History.Select(r => r.Step).Should().Equal(2, 4, 6, 8);
        result.History.Select(r => r.Epoch).Should().Equal(0.5, 1.0, 1.5, 2.0);
    }
}
