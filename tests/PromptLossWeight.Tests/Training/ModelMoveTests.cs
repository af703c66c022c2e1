using PromptLossWeight.Models;
using PromptLossWeight.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

/// <summary>
/// Moving a model to another device replaces its parameters (TorchSharp frees the old ones), as a move to "cuda" does
/// for a model on "cuda:0". The trainer must hold the parameters that are live after the move, never the freed ones.
/// </summary>
public class ModelMoveTests
{
    [Fact]
    public void A_trainer_whose_device_move_replaces_the_parameters_trains_the_live_ones()
    {
        using var dir = new TempDir();
        var model = new ReplacingOnMoveModel();
        var trainer = new Trainer(model, TrainerTestData.Options(dir.Path) with { MaxSteps = 3, Device = CPU }, TrainerTestData.Examples(12, seed: 5));

        model.Moves.Should().Be(1, "the trainer moves the model to the device in its options");
        Tensor before = model.Inner.OutputWeight.detach().clone();
        trainer.Train();

        model.Inner.OutputWeight.allclose(before).Should().Be(false, "the optimizer updated the live parameters");
        model.Inner.named_parameters().Should().OnlyContain(p => p.parameter.dtype == ScalarType.Float64);
    }

    [Fact]
    public void Converting_the_model_after_the_trainer_is_created_still_trains_the_live_parameters()
    {
        using var dir = new TempDir();
        var model = new TinyCausalModel();
        var trainer = new Trainer(model, TrainerTestData.Options(dir.Path) with { MaxSteps = 3 }, TrainerTestData.Examples(12, seed: 6));
        model.to(ScalarType.Float64);   // replaces every parameter
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

        trainer.Train();

        model.named_parameters().First(p => p.name == "head.weight").parameter.allclose(before["head.weight"]).Should().Be(false);
    }

    /// <summary>A model whose move to any device also converts it to float64, so every parameter is replaced on a CPU-only machine.</summary>
    private sealed class ReplacingOnMoveModel : nn.Module, IHiddenStateLanguageModel
    {
        public ReplacingOnMoveModel() : base("replacing") => register_module("inner", Inner);

        public TinyCausalModel Inner { get; } = new();

        public int Moves { get; private set; }

        public nn.Module Module => this;

        public Tensor OutputWeight => Inner.OutputWeight;

        public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null) =>
            Inner.HiddenStates(inputIds, attentionMask, positionIds);

        public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null) =>
            Inner.Logits(inputIds, attentionMask, positionIds);

        protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool nonBlocking)
        {
            Moves++;
            base._to(deviceType, deviceIndex, nonBlocking);
            return _to(ScalarType.Float64, nonBlocking);
        }
    }
}
