using System.Text.Json.Nodes;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class CheckpointTests
{
    private static string TrainOnce(TempDir dir)
    {
        var trainer = new Trainer(new TinyCausalModel(), TrainerTestData.Options(dir.Path) with { MaxSteps = 2 }, TrainerTestData.Examples(8, seed: 28));
        return trainer.Train().LastCheckpointPath!;
    }

    [Fact]
    public void A_saved_checkpoint_lists_every_file_with_its_sha256_and_verifies()
    {
        using var dir = new TempDir();
        string checkpoint = TrainOnce(dir);

        Path.GetFileName(checkpoint).Should().Be("checkpoint-2");
        TrainerCheckpoints.Verify(checkpoint).Should().BeNull();
        var files = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, TrainerCheckpoints.ManifestFileName)))!["files"]!.AsObject();
        files.Select(f => f.Key).Should().BeEquivalentTo(["model.safetensors", "optimizer.safetensors", "rng.safetensors", "trainer_state.json"]);
        Directory.EnumerateFiles(checkpoint).Select(Path.GetFileName).Should().BeEquivalentTo(files.Select(f => f.Key).Append(TrainerCheckpoints.ManifestFileName));
    }

    [Fact]
    public void A_manifest_that_names_a_path_outside_its_folder_is_rejected()
    {
        using var dir = new TempDir();
        string checkpoint = TrainOnce(dir);
        string manifestPath = Path.Combine(checkpoint, TrainerCheckpoints.ManifestFileName);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        manifest["files"]!.AsObject()["../metrics.csv"] = "00";
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        TrainerCheckpoints.Verify(checkpoint).Should().Contain("unsafe path '../metrics.csv'");
        TrainerCheckpoints.Latest(dir.Path).Should().BeNull();
    }

    [Fact]
    public void A_temporary_folder_left_by_an_interrupted_save_is_removed_with_a_warning()
    {
        using var dir = new TempDir();
        string stale = Path.Combine(dir.Path, ".checkpoint-4.tmp-0123456789abcdef");
        Directory.CreateDirectory(stale);
        File.WriteAllText(Path.Combine(stale, "model.safetensors"), "half written");
        var logger = new ListLogger();
        var trainer = new Trainer(new TinyCausalModel(), TrainerTestData.Options(dir.Path) with { MaxSteps = 1 }, TrainerTestData.Examples(8, seed: 28), logger: logger);

        trainer.Train();

        Directory.Exists(stale).Should().BeFalse();
        logger.Warnings.Should().ContainSingle(w => w.Contains(".checkpoint-4.tmp-") && w.Contains("interrupted"));
    }
}
