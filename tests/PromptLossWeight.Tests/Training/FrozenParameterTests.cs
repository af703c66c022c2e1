using PromptLossWeight.IO;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public class FrozenParameterTests
{
    [Fact]
    public void Only_parameters_that_require_grad_are_trained_and_checkpointed()
    {
        using var dir = new TempDir();
        var model = new TinyCausalModel();
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("embed", StringComparison.Ordinal)) p.requires_grad = false;   // e.g. a frozen base under LoRA
        var before = model.Snapshot();
        var trainer = new Trainer(model, TrainerTestData.Options(dir.Path) with { MaxSteps = 3 }, TrainerTestData.Examples(12, seed: 27));

        TrainResult result = trainer.Train();

        var after = model.Snapshot();
        after["embed.weight"].Should().Equal(before["embed.weight"]);
        after["head.weight"].Should().NotEqual(before["head.weight"]);
        var header = SafeTensors.ReadHeader(Path.Combine(result.LastCheckpointPath!, TrainerCheckpoints.ModelFileName));
        header.Entries.Select(e => e.Name).Should().BeEquivalentTo(["mix.weight", "mix.bias", "head.weight"]);
    }
}
