using System.Text.RegularExpressions;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

/// <summary>Tests that replace the process's console or its thread count: they run alone.</summary>
[CollectionDefinition(nameof(ProcessWideCollection), DisableParallelization = true)]
public sealed class ProcessWideCollection;

[Collection(nameof(ProcessWideCollection))]
public sealed class ConsoleProgressTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private (string Output, string Error) TrainWithoutLogger(TrainerOptions options)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        TextWriter originalOut = Console.Out, originalError = Console.Error;
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            using var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 42), TrainerTestData.Examples(4, seed: 43));
            trainer.Train();
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
        return (output.ToString(), error.ToString());
    }

    [Fact]
    public void Without_a_logger_the_trainer_prints_one_line_per_logging_step_and_per_evaluation()
    {
        var (output, error) = TrainWithoutLogger(TrainerTestData.Options(_dir.Path) with { MaxSteps = 4, LoggingSteps = 2, EvalSteps = 4 });

        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines.First().Should().StartWith("Training 4 steps");
        lines.Where(l => Regex.IsMatch(l, @"^step \d/4 ")).Should().HaveCount(2).And.Contain(l => l.StartsWith("step 2/4 ")).And.Contain(l => l.StartsWith("step 4/4 "));
        lines.Should().ContainSingle(l => l.StartsWith("eval step 4: ") && l.Contains("completion_loss="));
        lines.Last().Should().Be("Training ended at step 4: max steps reached.");
        error.Should().BeEmpty();
    }

    [Fact]
    public void Console_progress_can_be_switched_off()
    {
        var (output, error) = TrainWithoutLogger(TrainerTestData.Options(_dir.Path) with { MaxSteps = 2, LoggingSteps = 1, EvalSteps = 2, ConsoleProgress = false });

        output.Should().BeEmpty();
        error.Should().BeEmpty();
    }

    [Fact]
    public void Warnings_go_to_standard_error_with_a_prefix()
    {
        File.WriteAllText(Path.Combine(_dir.Path, RunLock.FileName),
            $"{{\"pid\":999999,\"host\":\"{Environment.MachineName}\",\"started\":\"2026-01-01T00:00:00+00:00\",\"token\":\"t\"}}");

        var (_, error) = TrainWithoutLogger(TrainerTestData.Options(_dir.Path) with { MaxSteps = 2, EvalSteps = 2 });

        error.Should().StartWith("warning: Taking over").And.Contain("left by process 999999");
    }

    [Fact]
    public void The_prompt_loss_weight_is_printed_rounded_for_reading()
    {
        var logger = new ListLogger();
        var options = TrainerTestData.Options(_dir.Path) with { MaxSteps = 2, LoggingSteps = 1, EvalSteps = 2, PromptLossWeight = 0.1 + 0.2 }; // 0.30000000000000004
        using var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 44), evalData: null, logger);

        trainer.Train();

        logger.Entries.Where(e => e.Message.StartsWith("step ")).Should().HaveCount(2)
            .And.OnlyContain(e => e.Message.Contains(" plw 0.3 ") && !e.Message.Contains("0.30000000000000004"));
    }

    [Fact]
    public void The_threads_option_sets_torchs_thread_count_when_training_starts()
    {
        int original = get_num_threads();
        int wanted = original == 1 ? 2 : 1;
        try
        {
            TrainWithoutLogger(TrainerTestData.Options(_dir.Path) with { MaxSteps = 1, EvalSteps = 1, Threads = wanted, ConsoleProgress = false });

            get_num_threads().Should().Be(wanted);
        }
        finally
        {
            set_num_threads(original);
        }
    }

    [Fact]
    public void A_thread_count_below_one_is_rejected_naming_the_option()
    {
        Action validate = () => (TrainerTestData.Options(_dir.Path) with { Threads = 0 }).Validate();

        validate.Should().Throw<ArgumentException>().WithMessage("*Threads*must be > 0*");
    }
}
