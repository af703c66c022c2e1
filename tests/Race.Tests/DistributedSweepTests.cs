using PromptLossWeight.Samples.Race.Pretraining;
using Race.Tests.Support;

namespace Race.Tests;

/// <summary>The sample's <c>--distributed</c>: a sweep run by two processes under <c>mpirun</c> (MPI on the CPU).</summary>
[Collection("console")]
public sealed class DistributedSweepTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Two_processes_pretrain_and_sweep_together_and_rank_0_alone_prints_and_writes_the_output()
    {
        Skip.If(SampleProcess.MpirunMissing is not null, SampleProcess.MpirunMissing);
        // Real data makes rank 0 build the vocabulary in the output folder, which rank 1 then reads.
        string root = _dir.File("RACE");
        string[] animals = ["otter", "heron", "badger", "lynx", "walrus", "gecko"];
        for (int i = 0; i < 12; i++)
        {
            string animal = animals[i % animals.Length];
            string[] options = [animal, animals[(i + 1) % animals.Length], animals[(i + 2) % animals.Length], animals[(i + 3) % animals.Length]];
            RaceFixtureFiles.WriteReleaseFile(root, i < 9 ? "train" : "dev", (i % 2 == 0 ? "high" : "middle") + i + ".txt",
                $"The keeper fed the {animal} near the pond every morning.", [("Which animal did the keeper feed?", options, "A")]);
        }
        string output = _dir.File("out");

        SampleRun run = SampleProcess.RaceUnderMpirun(2, "--distributed", "--data", root, "--plw", "1,0", "--max-steps", "2", "--eval-steps", "1",
            "--batch-size", "2", "--hidden-size", "16", "--layers", "1", "--heads", "2", "--pretrain-steps", "2", "--pretrain-batch-size", "2",
            "--output", output);

        run.ExitCode.Should().Be(0, run.Output + run.Error);
        run.Output.Split('\n').Count(l => l.Contains("data-parallel over 2 processes (Mpi, CPU)")).Should().Be(1, "rank 0 alone prints:\n" + run.Output);
        run.Output.Split('\n').Count(l => l.Contains("Validation results per PLW")).Should().Be(1);
        File.Exists(Path.Combine(output, "vocab.txt")).Should().BeTrue();
        File.Exists(Path.Combine(output, "report.md")).Should().BeTrue();
        File.ReadAllLines(Path.Combine(output, "summary.md")).Count(l => l.StartsWith("| ", StringComparison.Ordinal)).Should().Be(1 + 2, "a header and one row per PLW");
        Directory.GetDirectories(Path.Combine(output, "runs", "plw_0"), "checkpoint-*").Should().NotBeEmpty();
        string cache = Path.Combine(output, PretrainedModelCache.FolderName);
        Directory.GetDirectories(cache).Should().ContainSingle()
            .Which.Should().Match(entry => File.Exists(Path.Combine(entry, "model.safetensors")), "the pretraining ran once, on both ranks, and rank 0 saved it");
    }

    [SkippableFact]
    public void Data_that_every_rank_fails_to_read_ends_each_rank_with_one_line_and_a_non_zero_exit()
    {
        Skip.If(SampleProcess.MpirunMissing is not null, SampleProcess.MpirunMissing);
        string missing = _dir.File("no-such-race");

        SampleRun run = SampleProcess.RaceUnderMpirun(2, "--distributed", "--data", missing, "--output", _dir.File("out"));

        run.ExitCode.Should().NotBe(0);
        run.ShowsStackTrace.Should().BeFalse(run.Error);
        run.Error.Should().Contain(missing);
    }
}
