using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race.Reporting;

namespace Race.Tests;

public sealed class SweepSummaryTests
{
    private static MetricRecord Eval(long step, double completion, double full, double accuracy) =>
        new(step, step / 10.0, 0.1, 1e-3, 1.0, new Dictionary<string, double>
        {
            [MetricNames.PromptLoss] = full * 1.1, [MetricNames.CompletionLoss] = completion,
            [MetricNames.FullLoss] = full, [MetricNames.Accuracy] = accuracy,
        });

    // Full loss keeps falling (the prompt is still being learned) while completion loss turns up after step 20.
    private static readonly MetricRecord[] History =
    [
        Eval(10, completion: 1.2, full: 3.0, accuracy: 0.40),
        Eval(20, completion: 0.5, full: 2.0, accuracy: 0.80),
        Eval(30, completion: 0.7, full: 1.5, accuracy: 0.85),
        Eval(40, completion: 0.9, full: 1.2, accuracy: 0.75),
    ];

    [Fact]
    public void Best_completion_loss_and_best_accuracy_come_with_their_epoch_and_step()
    {
        var s = RunSummary.From(0.1, History, seconds: 12);

        s.BestCompletionLoss.Should().Be(new MetricAt(0.5, 2.0, 20));
        s.BestAccuracy.Should().Be(new MetricAt(0.85, 3.0, 30));
        s.FinalAccuracy.Should().Be(new MetricAt(0.75, 4.0, 40));
    }

    [Fact]
    public void Stopping_on_full_loss_and_on_completion_loss_give_different_accuracies()
    {
        var s = RunSummary.From(0.1, History, seconds: 12);

        s.AccuracyAtMinFullLoss.Should().Be(new MetricAt(0.75, 4.0, 40));
        s.AccuracyAtMinCompletionLoss.Should().Be(new MetricAt(0.80, 2.0, 20));
    }

    [Fact]
    public void The_markdown_table_has_one_row_per_plw()
    {
        var rows = new[] { RunSummary.From(1, History, 60), RunSummary.From(0, History, 61) };

        string md = SweepSummary.ToMarkdown(rows);

        md.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(4);
        md.Should().Contain("| 1 | 0.5000 (epoch 2, step 20) | 0.8500 (epoch 3, step 30) |").And.Contain("| 0 |").And.Contain("1:00");
    }

    [Fact]
    public void Compact_cells_show_value_at_step_for_narrow_consoles()
    {
        var cells = SweepSummary.Cells(RunSummary.From(0.1, History, 75), compact: true);

        cells.Should().Equal("0.1", "0.500 @ 20", "0.850 @ 30", "0.750 @ 40", "0.800 @ 20", "0.750 @ 40", "1:15");
    }

    [Fact]
    public void A_run_without_evaluations_is_an_error()
    {
        var act = () => RunSummary.From(0.5, [], 1);

        act.Should().Throw<ArgumentException>().WithMessage("*PLW 0.5*");
    }
}
