using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

/// <summary>Two runs sharing an output folder never mix: retention and "resume the latest" only see the current run.</summary>
public sealed class RunIdentityTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private TrainResult Train(TrainerOptions options, ILogger? logger = null)
    {
        using var trainer = new Trainer(new TinyCausalModel(), options, TrainerTestData.Examples(12, seed: 40), evalData: null, logger ?? new ListLogger());
        return trainer.Train();
    }

    private TrainerOptions Options => TrainerTestData.Options(_dir.Path) with { ConsoleProgress = false };

    private string Checkpoint(long step) => Path.Combine(_dir.Path, TrainerCheckpoints.FolderName(step));

    [Fact]
    public void A_fresh_run_beside_an_older_runs_checkpoint_520_keeps_its_own_checkpoints_and_latest_resumes_it_not_the_old_run()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 4 });
        Directory.Move(Checkpoint(4), Checkpoint(520)); // an older run that got further
        string oldRun = TrainerCheckpoints.RunIdOf(Checkpoint(520))!;

        TrainResult fresh = Train(Options with { MaxSteps = 6, EvalSteps = 3, SaveTotalLimit = 1 });

        Directory.Exists(Checkpoint(520)).Should().BeTrue("retention never deletes another run's checkpoint");
        TrainerCheckpoints.RunIdOf(Checkpoint(520)).Should().Be(oldRun);
        Directory.Exists(Checkpoint(3)).Should().BeFalse("SaveTotalLimit = 1 keeps only this run's newest");
        fresh.LastCheckpointPath.Should().Be(Checkpoint(6));
        Directory.Exists(fresh.LastCheckpointPath).Should().BeTrue();

        var logger = new ListLogger();
        TrainResult resumed = Train(Options with { MaxSteps = 8, EvalSteps = 4, SaveTotalLimit = 1, ResumeFrom = TrainerOptions.Latest }, logger);

        logger.Entries.Should().Contain(e => e.Message == $"Resumed from {Checkpoint(6)} at step 6.");
        resumed.Steps.Should().Be(8);
        Directory.Exists(Checkpoint(520)).Should().BeTrue();
    }

    [Fact]
    public void Every_checkpoint_manifest_carries_the_run_id_which_a_resumed_run_keeps_and_a_fresh_run_changes()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 2 });
        string first = TrainerCheckpoints.CurrentRunId(_dir.Path)!;
        Train(Options with { MaxSteps = 8, EvalSteps = 2, ResumeFrom = TrainerOptions.Latest });

        TrainerCheckpoints.ListComplete(_dir.Path).Select(c => TrainerCheckpoints.RunIdOf(c.Path)).Should().Equal(first, first, first, first);
        JsonNode.Parse(File.ReadAllText(Path.Combine(Checkpoint(8), TrainerCheckpoints.ManifestFileName)))!["run_id"]!.GetValue<string>().Should().Be(first);

        var logger = new ListLogger();
        Train(Options with { MaxSteps = 2, EvalSteps = 2 }, logger);

        string second = TrainerCheckpoints.CurrentRunId(_dir.Path)!;
        second.Should().NotBe(first);
        TrainerCheckpoints.RunIdOf(Checkpoint(2)).Should().Be(second);
        logger.Warnings.Should().Contain(w => w.Contains($"Replacing {Checkpoint(2)}, which an earlier run ({first}) wrote"));
        TrainerCheckpoints.RunIdOf(Checkpoint(4)).Should().Be(first, "the earlier run's other checkpoints are left alone");
    }

    [Fact]
    public void When_every_checkpoint_is_rejected_starting_from_scratch_is_a_warning()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 2 });
        foreach (long step in new long[] { 2, 4 })
        {
            string model = Path.Combine(Checkpoint(step), TrainerCheckpoints.ModelFileName);
            byte[] bytes = File.ReadAllBytes(model);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(model, bytes);
        }
        var logger = new ListLogger();

        Train(Options with { MaxSteps = 4, EvalSteps = 2, ResumeFrom = TrainerOptions.Latest }, logger);

        logger.Entries.Should().Contain(e => e.Level == LogLevel.Warning
            && e.Message == $"No usable checkpoint of the last run in {_dir.Path} (2 rejected, 0 of other runs left alone); starting from scratch.");
    }

    [Fact]
    public void In_an_empty_folder_latest_starts_from_scratch_without_a_warning()
    {
        var logger = new ListLogger();

        Train(Options with { MaxSteps = 2, EvalSteps = 2, ResumeFrom = TrainerOptions.Latest }, logger);

        logger.Warnings.Should().BeEmpty();
        logger.Entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message == $"No checkpoint in {_dir.Path}; starting from scratch.");
    }

    [Fact]
    public void The_run_key_is_recorded_in_run_json_and_every_checkpoint_and_a_resume_under_the_same_key_continues()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 2, RunKey = "settings-a" });

        TrainerCheckpoints.RunKeyOf(_dir.Path).Should().Be("settings-a");
        TrainerState.FromJson(File.ReadAllText(Path.Combine(Checkpoint(4), "trainer_state.json"))).RunKey.Should().Be("settings-a");
        var logger = new ListLogger();
        TrainResult resumed = Train(Options with { MaxSteps = 6, EvalSteps = 2, RunKey = "settings-a", ResumeFrom = TrainerOptions.Latest }, logger);

        logger.Entries.Should().Contain(e => e.Message == $"Resumed from {Checkpoint(4)} at step 4.");
        resumed.Steps.Should().Be(6);
        resumed.State.RunKey.Should().Be("settings-a");
    }

    [Fact]
    public void Resuming_a_checkpoint_made_under_another_run_key_or_none_is_refused_before_training_naming_the_checkpoint_and_both_keys()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 2, RunKey = "settings-a" });
        var logger = new ListLogger();

        var other = () => Train(Options with { MaxSteps = 6, EvalSteps = 2, RunKey = "settings-b", ResumeFrom = TrainerOptions.Latest }, logger);

        other.Should().Throw<ArgumentException>().WithMessage($"{Checkpoint(4)}: the checkpoint was made under run key 'settings-a', and this run's TrainerOptions.RunKey is 'settings-b';*");
        logger.Entries.Should().NotContain(e => e.Message.StartsWith("Training ", StringComparison.Ordinal), "nothing was trained");
        TrainerCheckpoints.ListComplete(_dir.Path).Select(c => c.Step).Should().Equal(2, 4);
        TrainerCheckpoints.RunKeyOf(_dir.Path).Should().Be("settings-a", "the refused run recorded nothing");

        using var unkeyed = new TempDir();
        Train(Options with { OutputDirectory = unkeyed.Path, MaxSteps = 2, EvalSteps = 2 });
        var none = () => Train(Options with { OutputDirectory = unkeyed.Path, MaxSteps = 4, EvalSteps = 2, RunKey = "settings-a", ResumeFrom = TrainerOptions.Latest });
        none.Should().Throw<ArgumentException>().WithMessage("*the checkpoint was made under run key none, and this run's TrainerOptions.RunKey is 'settings-a';*");
    }

    [Fact]
    public void Without_a_run_key_nothing_is_checked_and_a_fresh_start_records_the_new_key()
    {
        Train(Options with { MaxSteps = 4, EvalSteps = 2, RunKey = "settings-a" });

        TrainResult unchecked_ = Train(Options with { MaxSteps = 6, EvalSteps = 2, ResumeFrom = TrainerOptions.Latest });
        unchecked_.Steps.Should().Be(6);
        unchecked_.State.RunKey.Should().Be("settings-a", "a resumed run keeps the key its checkpoint was made under");

        Train(Options with { MaxSteps = 2, EvalSteps = 2, RunKey = "settings-b" });
        TrainerCheckpoints.RunKeyOf(_dir.Path).Should().Be("settings-b");
        File.Delete(Path.Combine(_dir.Path, TrainerCheckpoints.RunFileName));
        TrainerCheckpoints.RunKeyOf(_dir.Path).Should().BeNull();
        TrainerCheckpoints.CurrentRunId(_dir.Path).Should().BeNull();
    }
}
