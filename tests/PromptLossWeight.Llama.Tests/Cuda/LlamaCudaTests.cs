using PromptLossWeight.Batching;
using PromptLossWeight.Llama.Generation;
using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Testing;
using PromptLossWeight.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Cuda;

/// <summary>The Llama model, generation and LoRA on CUDA, against the same computations on the CPU.</summary>
[Trait("Category", PromptLossWeight.Testing.Cuda.Category)]
public class LlamaCudaTests
{
    /// <summary>Two rows: two packed documents and padding, and one document and padding.</summary>
    private static Tensor Documents() => tensor(new long[] { 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 12]);

    private static LlamaForCausalLM OnDevice(Device device, ScalarType dtype = ScalarType.Float32, LlamaConfig? config = null)
    {
        LlamaForCausalLM model = Tiny.Model(config, dtype: dtype);
        model.to(device);
        return model;
    }

    /// <summary>Max |a − b| over max(1, max |b|): a relative error that does not blow up on logits near zero.</summary>
    private static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        Tensor a = actual.cpu().to(ScalarType.Float32), e = expected.cpu().to(ScalarType.Float32);
        return Tiny.MaxAbsDiff(a, e) / Math.Max(1.0, e.abs().max().item<float>());
    }

    [SkippableFact]
    public void Logits_on_cuda_in_fp32_equal_the_cpus_to_1e_5_for_padded_and_packed_rows()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var cpu = Tiny.Model();
        using var gpu = OnDevice(device);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor ids = Tiny.RandomIds(2, 12, seed: 3);
        foreach (Tensor? documents in new[] { null, Documents() })
        {
            Tensor expected = cpu.Logits(ids, documents);
            Tensor actual = gpu.Logits(ids.to(device), documents?.to(device));
            actual.device.type.Should().Be(device.type);
            RelativeError(actual, expected).Should().BeLessThan(1e-5, documents is null ? "one document per row" : "packed documents");
        }
    }

    [SkippableFact]
    public void Logits_on_cuda_in_bf16_stay_within_3_percent_of_the_fp32_logits()
    {
        // bf16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.2%); two layers of matmuls, norms and attention in bf16
        // accumulate a few percent at most against the fp32 model with the same (bf16-rounded) weights.
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var reference = Tiny.Model(dtype: ScalarType.BFloat16);
        reference.to(ScalarType.Float32);
        using var gpu = OnDevice(device, ScalarType.BFloat16);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor ids = Tiny.RandomIds(2, 12, seed: 4);
        Tensor expected = reference.Logits(ids, Documents());
        Tensor actual = gpu.Logits(ids.to(device), Documents().to(device));
        actual.dtype.Should().Be(ScalarType.BFloat16);
        RelativeError(actual, expected).Should().BeLessThan(0.03);
    }

    [SkippableFact]
    public void KV_cache_decoding_on_cuda_equals_full_recomputation_and_greedy_generation_takes_its_arg_max()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var model = OnDevice(device);
        using var noGrad = no_grad();
        long[] sequence = [1, 17, 33, 8, 50, 21, 9, 40];
        using var full = model.Logits(Tiny.Ids(sequence).to(device));             // [1, 8, V]
        using var cache = model.NewCache();
        using var prefill = model.Logits(Tiny.Ids(sequence[..3]).to(device), null, null, cache);
        RelativeError(prefill, full.narrow(1, 0, 3)).Should().BeLessThan(1e-5);
        for (int t = 3; t < sequence.Length; t++)
        {
            using var step = model.Logits(Tiny.Ids([sequence[t]]).to(device), null, null, cache);
            RelativeError(step, full.narrow(1, t, 1)).Should().BeLessThan(1e-5, $"position {t}");
        }

        long[] prompt = [1, 12, 13, 14];
        long[] generated = LlamaGenerator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 5, EosTokenIds = [] });
        var tokens = prompt.ToList();
        foreach (long token in generated)
        {
            using var logits = model.Logits(Tiny.Ids([.. tokens]).to(device));
            logits[0, -1].argmax().item<long>().Should().Be(token);
            tokens.Add(token);
        }
    }

    [SkippableFact]
    public void LoRA_on_cuda_trains_saves_loads_into_a_fresh_model_and_merges_to_the_same_logits()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        string dir = Tiny.TempDir();
        using var model = OnDevice(device);
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0, TargetModules = ["q_proj", "v_proj"] }, seed: 5);
        var data = TinyData.ReverseExamples();
        var options = new TrainerOptions
        {
            OutputDirectory = Path.Combine(dir, "run"), PromptLossWeight = 0.1, Loss = new ChunkedWeightedCrossEntropy(chunkSize: 16),
            LearningRate = 2e-2, LearningRateSchedule = LearningRateScheduleKind.Constant, MaxSteps = 30, BatchSize = 8,
            EvalSteps = 15, LoggingSteps = 15, PadTokenId = 0, Device = device,
        };
        TrainResult result = new Trainer(model, options, data, evalData: data).Train();
        result.History[^1].Get(MetricNames.CompletionLoss).Should().BeLessThan(result.History[0].Get(MetricNames.CompletionLoss));
        adapter.Layers.Values.Should().OnlyContain(l => l.LoraA.device.type == device.type);

        adapter.Save(Path.Combine(dir, "adapter"));
        using var fresh = OnDevice(device);
        LoraAdapter.Load(fresh, Path.Combine(dir, "adapter"));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using Batch batch = PaddingCollator.Pad(data, padId: 0, device: device);
        Tensor trained = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        RelativeError(fresh.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds), trained).Should().BeLessThan(1e-6, "the loaded adapter");
        adapter.Merge();
        RelativeError(model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds), trained).Should().BeLessThan(1e-4, "the merged weights");
    }

    [SkippableFact]
    public void On_cuda_checkpointed_layers_give_the_same_gradients_as_stored_activations_also_with_LoRA()
    {
        Device device = PromptLossWeight.Testing.Cuda.Device();
        using var model = OnDevice(device);
        model.train();
        var stored = Model.GradientCheckpointingTests.LossAndGradients(model, checkpointing: false, Documents());
        var checkpointed = Model.GradientCheckpointingTests.LossAndGradients(model, checkpointing: true, Documents());
        Model.GradientCheckpointingTests.ShouldMatch(checkpointed, stored, 1e-5);

        LoraAdapter.Inject(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0, TargetModules = LoraConfig.KnownTargets }, seed: 3);
        using (no_grad())
            foreach (var (_, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn(p.shape, device: device) * 0.1);
        var loraStored = Model.GradientCheckpointingTests.LossAndGradients(model, checkpointing: false, Documents());
        var loraCheckpointed = Model.GradientCheckpointingTests.LossAndGradients(model, checkpointing: true, Documents());
        Model.GradientCheckpointingTests.ShouldMatch(loraCheckpointed, loraStored, 1e-5);
    }
}
