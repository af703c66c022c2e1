using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race;
using PromptLossWeight.Samples.Race.Reporting;

namespace Race.Tests;

public sealed class ReportAndPresetTests
{
    private static MetricRecord Eval(long step, double completion, double full, double accuracy) =>
        new(step, step / 10.0, 0.1, 1e-3, 1.0, new Dictionary<string, double>
        {
            [MetricNames.PromptLoss] = full, [MetricNames.CompletionLoss] = completion,
            [MetricNames.FullLoss] = full, [MetricNames.Accuracy] = accuracy,
        });

    private static RunSummary Run(double plw, params (long Step, double Completion, double Full, double Accuracy)[] evals) =>
        RunSummary.From(plw, evals.Select(e => Eval(e.Step, e.Completion, e.Full, e.Accuracy)).ToList(), 10);

    [Fact]
    public void The_reading_names_the_winning_plw_and_the_order_in_which_the_plws_reached_reading_accuracy()
    {
        var runs = new[]
        {
            Run(1, (100, 1.0, 2.0, 0.5), (200, 0.6, 1.5, 0.82), (300, 0.5, 1.4, 0.9)),
            Run(0.1, (100, 0.8, 2.1, 0.85), (200, 0.4, 1.9, 0.95), (300, 0.5, 1.8, 0.93)),
            Run(0, (100, 0.9, 3.0, 0.5), (200, 0.7, 3.5, 0.6), (300, 0.8, 4.0, 0.55)),
        };

        string reading = RaceReport.Reading(runs, pretrained: null);

        reading.Should().Contain("The best accuracy, 0.950, was reached with PLW 0.1");
        reading.Should().Contain("PLW 0.1 at step 100, PLW 1 at step 200").And.Contain("never by PLW 0");
        reading.Should().Contain("costs most at PLW 0: accuracy 0.500 (step 100) instead of 0.600 (step 200)");
    }

    [Fact]
    public void The_three_questions_are_answered_per_plw_stopping_rule_convergence_to_90_percent_of_the_best_and_best_values()
    {
        var runs = new[]
        {
            Run(1, (100, 1.0, 2.0, 0.5), (200, 0.6, 1.5, 0.82), (300, 0.5, 1.4, 0.9)),
            Run(0.1, (100, 0.8, 2.1, 0.85), (200, 0.4, 1.9, 0.95), (300, 0.5, 1.8, 0.93)),
            Run(0, (100, 0.9, 3.0, 0.5), (200, 0.7, 3.5, 0.6), (300, 0.8, 4.0, 0.55)),
        };

        string answers = RaceReport.Questions(runs);

        // The target is 90 % of the sweep's best accuracy (0.95): 0.855, which PLW 0.1 reaches at step 200 and PLW 1 at 300.
        answers.Should().Contain("(b) steps to accuracy 0.855");
        answers.Should().Contain("| 0.1 | 0.930 (step 300) | 0.950 (step 200) | 200 | 0.950 | 0.4000 |");
        answers.Should().Contain("| 1 | 0.900 (step 300) | 0.900 (step 300) | 300 | 0.900 | 0.5000 |");
        answers.Should().Contain("| 0 | 0.500 (step 100) | 0.600 (step 200) | not reached | 0.600 | 0.7000 |");
        answers.Should().Contain("(a) Stopping on the completion loss instead of the full-sequence loss gave higher accuracy for 2 of 3 PLWs, lower for 0; " +
                                 "the largest difference is at PLW 0 (0.500 vs 0.600).");
        answers.Should().Contain("(b) 90 % of the best accuracy (0.855) was reached first by PLW 0.1 (step 200), PLW 1 (step 300); not by PLW 0.");
        answers.Should().Contain("(c) The best accuracy is PLW 0.1's 0.950; the lowest completion loss is PLW 0.1's 0.4000.");
    }

    [Fact]
    public void A_best_accuracy_shared_by_several_plws_names_them_all()
    {
        var runs = new[] { Run(1, (100, 0.5, 1.0, 1.0)), Run(0, (100, 0.1, 9.0, 1.0)) };

        RaceReport.Questions(runs).Should().Contain("(c) The best accuracy, 1.000, is reached by PLW 1, 0; the lowest completion loss is PLW 0's 0.1000.");
    }

    [Fact]
    public void The_reading_says_so_when_no_plw_reached_reading_accuracy()
    {
        var runs = new[] { Run(1, (100, 1.0, 2.0, 0.5)), Run(0, (100, 0.9, 2.0, 0.52)) };

        RaceReport.Reading(runs, pretrained: null).Should().Contain("No PLW reached accuracy 0.8");
    }

    [Fact]
    public void On_the_log_plw_axis_zero_sits_one_decade_left_of_the_smallest_positive_plw()
    {
        var runs = new[] { Run(1, (1, 1, 1, 0.5)), Run(0.01, (1, 1, 1, 0.5)), Run(0, (1, 1, 1, 0.5)) };

        RacePlots.PlwPosition(1, runs).Should().Be(0);
        RacePlots.PlwPosition(0.01, runs).Should().BeApproximately(-2, 1e-12);
        RacePlots.PlwPosition(0, runs).Should().BeApproximately(-3, 1e-12);
    }

    [Fact]
    public void Auto_is_the_cpu_default_without_cuda_and_the_bigger_gpu_default_with_it()
    {
        RacePresets.For("auto", () => false).Should().Be(RacePresets.Cpu);
        RacePresets.For("auto", () => true).Should().Be(RacePresets.Gpu);
        RacePresets.Gpu.PromptLossWeights.Should().Equal(1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0);
        RacePresets.Gpu.SmallModel.HiddenSize.Should().BeGreaterThan(RacePresets.Cpu.SmallModel.HiddenSize);
        RacePresets.Gpu.BatchSize.Should().BeGreaterThan(RacePresets.Cpu.BatchSize);
        RacePresets.Gpu.MaxSteps.Should().BeGreaterThan(RacePresets.Cpu.MaxSteps!.Value);
    }

    [Fact]
    public void The_paper_preset_fine_tunes_with_lora_on_the_article_grid_for_five_epochs()
    {
        var paper = RacePresets.Paper;

        paper.PromptLossWeights.Should().Equal(RacePresets.ArticleGrid);
        paper.Epochs.Should().Be(5);
        paper.MaxSteps.Should().BeNull();
        paper.BatchSize.Should().Be(8);
        paper.MaxLength.Should().Be(2048);
        paper.Validate().Should().BeSameAs(paper);
    }
}
