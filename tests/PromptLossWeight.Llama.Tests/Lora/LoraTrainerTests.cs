using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Masking;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using PromptLossWeight.Training;
using static TorchSharp.torch;
using LlamaCheckpoint = PromptLossWeight.Llama.Checkpoints.LlamaCheckpoint;

namespace PromptLossWeight.Llama.Tests.Lora;

public class LoraTrainerTests
{
    public static TheoryData<string> Losses => ["logits", "chunked"];

    [Theory]
    [MemberData(nameof(Losses))]
    public void A_tiny_Llama_with_LoRA_trains_through_the_Trainer_and_its_completion_loss_falls(string loss)
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 8, Alpha = 16, Dropout = 0, TargetModules = LoraConfig.KnownTargets }, seed: 5);
        var baseWeights = LlamaCheckpoint.Tensors(model).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var data = TinyData.ReverseExamples();
        var options = new TrainerOptions
        {
            OutputDirectory = Tiny.TempDir(),
            PromptLossWeight = 0.1,
            Loss = loss == "chunked" ? new ChunkedWeightedCrossEntropy(chunkSize: 16) : new LogitsWeightedLoss(),
            LearningRate = 2e-2,
            LearningRateSchedule = LearningRateScheduleKind.Constant,
            MaxSteps = 40,
            BatchSize = 8,
            EvalSteps = 20,
            LoggingSteps = 20,
            PadTokenId = 0,
            Device = CPU,
        };
        double initial = CompletionLoss(model, data);
        TrainResult result = new Trainer(model, options, data, evalData: data).Train();

        result.Steps.Should().Be(40);
        result.History[^1].Step.Should().Be(40);
        double final = result.History[^1].Get(MetricNames.CompletionLoss);
        final.Should().BeLessThan(0.5 * initial, $"the completion loss went from {initial:F3} to {final:F3}");
        foreach (var (name, p) in LlamaCheckpoint.Tensors(model))
            Tiny.MaxAbsDiff(p, baseWeights[name]).Should().Be(0, $"{name} is frozen");
        adapter.TrainableParameters().Should().OnlyContain(p => p.Name.Contains(".lora_"));
    }

    private static double CompletionLoss(LlamaForCausalLM model, IReadOnlyList<MaskedExample> data)
    {
        using var batch = PaddingCollator.Pad(data, padId: 0, device: CPU);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        return WeightedCrossEntropy.Compute(logits, batch.Labels, batch.CompletionMask()).item<float>();
    }
}
