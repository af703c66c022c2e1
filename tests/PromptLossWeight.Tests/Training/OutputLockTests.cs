using System.Diagnostics;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

/// <summary>A training run holds its output folder: a second live run there is refused, naming the holder.</summary>
public sealed class OutputLockTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private Trainer NewTrainer(TrainerOptions options) =>
        new(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 41), evalData: null, new ListLogger());

    [Fact]
    public void A_second_trainer_on_the_folder_of_a_running_one_is_refused_and_the_lock_is_gone_when_the_first_ends()
    {
        var options = TrainerTestData.Options(_dir.Path) with { MaxSteps = 4, EvalSteps = 2, ConsoleProgress = false };
        OutputDirectoryInUseException? refused = null;
        using var first = NewTrainer(options);
        first.Callbacks.Add(new LambdaCallback
        {
            StepEnd = (s, c) =>
            {
                if (s.Step != 1) return;
                using var second = NewTrainer(options with { ResumeFrom = TrainerOptions.Latest });
                try { second.Train(); }
                catch (OutputDirectoryInUseException e) { refused = e; }
            },
        });

        first.Train();

        refused.Should().NotBeNull("the first trainer held the folder");
        refused!.ProcessId.Should().Be(Environment.ProcessId);
        refused.HostName.Should().Be(Environment.MachineName);
        refused.Message.Should().StartWith($"{_dir.Path} is in use by another training run: process {Environment.ProcessId}");
        File.Exists(Path.Combine(_dir.Path, RunLock.FileName)).Should().BeFalse("the lock is released when Train returns");
        TrainerCheckpoints.ListComplete(_dir.Path).Select(c => c.Step).Should().Equal(2, 4);
    }

    [Fact]
    public void A_trainer_on_the_folder_of_a_training_child_process_is_refused_naming_the_childs_process_id()
    {
        string dotnet = Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "exec", typeof(OutputLockTests).Assembly.Location, CrashResumeTests.ChildCommand, _dir.Path }) start.ArgumentList.Add(arg);
        using Process child = Process.Start(start)!;
        try
        {
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null && line != "step 1") { }
            line.Should().Be("step 1", "the child must be training");

            using var trainer = NewTrainer(TrainerTestData.Options(_dir.Path) with { MaxSteps = 2, ConsoleProgress = false });
            Action train = () => trainer.Train();

            train.Should().Throw<OutputDirectoryInUseException>().Where(e => e.ProcessId == child.Id)
                .WithMessage($"*process {child.Id} on host '{Environment.MachineName}'*");
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }
    }
}
