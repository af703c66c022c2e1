using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Model;

public class GradientCheckpointingTests
{
    /// <summary>Two rows: two packed documents and padding, and one document and padding.</summary>
    private static Tensor Documents() => tensor(new long[] { 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 12]);

    /// <summary>The loss of one forward + backward pass and the gradients of every parameter that got one, by name.</summary>
    internal static (float Loss, Dictionary<string, Tensor> Gradients) LossAndGradients(LlamaForCausalLM model, bool checkpointing, Tensor? documents, long rngSeed = 0)
    {
        model.GradientCheckpointing = checkpointing;
        model.zero_grad();
        manual_seed(rngSeed);
        Device device = model.Device;
        Tensor ids = Tiny.RandomIds(2, 12, seed: 5).to(device);
        Tensor weights = ones(2, 12, device: device);
        Tensor hidden = model.HiddenStates(ids, documents?.to(device));
        Tensor loss = ChunkedWeightedCrossEntropy.Compute(hidden, model.OutputWeight, ids, weights, chunkSize: 8);
        loss.backward();
        var gradients = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        return (loss.item<float>(), gradients);
    }

    internal static void ShouldMatch((float Loss, Dictionary<string, Tensor> Gradients) actual, (float Loss, Dictionary<string, Tensor> Gradients) expected, double tolerance)
    {
        actual.Loss.Should().BeApproximately(expected.Loss, 1e-6f);
        actual.Gradients.Keys.Should().BeEquivalentTo(expected.Gradients.Keys);
        expected.Gradients.Should().NotBeEmpty();
        foreach (var (name, gradient) in expected.Gradients)
        {
            double scale = Math.Max(1.0, gradient.abs().max().item<float>());
            Tiny.MaxAbsDiff(actual.Gradients[name], gradient).Should().BeLessThanOrEqualTo(tolerance * scale, name);
        }
    }

    [Fact]
    public void Checkpointed_layers_give_the_same_loss_and_parameter_gradients_as_stored_activations_for_packed_and_padded_rows()
    {
        using var model = Tiny.Model();
        model.train();
        foreach (Tensor? documents in new[] { null, Documents() })
        {
            var stored = LossAndGradients(model, checkpointing: false, documents);
            var checkpointed = LossAndGradients(model, checkpointing: true, documents);
            ShouldMatch(checkpointed, stored, 1e-5);
            checkpointed.Gradients.Should().ContainKey("model.layers.0.self_attn.q_proj.weight").And.ContainKey("model.embed_tokens.weight");
        }
    }

    [Fact]
    public void With_LoRA_on_a_frozen_model_checkpointing_gives_the_adapters_the_same_gradients()
    {
        using var model = Tiny.Model();
        LoraAdapter.Inject(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0, TargetModules = LoraConfig.KnownTargets }, seed: 3);
        // B starts at zero, which would make every A gradient zero: give B values so that both matrices get gradients.
        using (no_grad())
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn(p.shape) * 0.1);
        model.train();

        var stored = LossAndGradients(model, checkpointing: false, Documents());
        var checkpointed = LossAndGradients(model, checkpointing: true, Documents());

        ShouldMatch(checkpointed, stored, 1e-5);
        checkpointed.Gradients.Keys.Should().OnlyContain(name => name.Contains(".lora_"));
        checkpointed.Gradients.Should().ContainKey("model.layers.0.self_attn.q_proj.lora_A.weight");
    }

    [Fact]
    public void With_LoRA_dropout_the_recomputation_draws_the_same_masks_so_the_gradients_equal_an_unchecheckpointed_run()
    {
        using var model = Tiny.Model();
        LoraAdapter.Inject(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0.5, TargetModules = ["q_proj", "v_proj"] }, seed: 3);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn(p.shape) * 0.1);
        model.train();

        var stored = LossAndGradients(model, checkpointing: false, Documents(), rngSeed: 11);
        var checkpointed = LossAndGradients(model, checkpointing: true, Documents(), rngSeed: 11);
        var otherMasks = LossAndGradients(model, checkpointing: false, Documents(), rngSeed: 12);

        ShouldMatch(checkpointed, stored, 1e-5);
        Tiny.MaxAbsDiff(otherMasks.Gradients["model.layers.0.self_attn.q_proj.lora_A.weight"], stored.Gradients["model.layers.0.self_attn.q_proj.lora_A.weight"])
            .Should().BeGreaterThan(1e-4, "dropout does change the gradients, so the equality above is not vacuous");
    }

    [Fact]
    public void Without_gradients_a_checkpointing_model_computes_the_same_logits()
    {
        using var model = Tiny.Model();
        using var noGrad = no_grad();
        Tensor ids = Tiny.RandomIds(2, 12, seed: 6);
        using Tensor plain = model.Logits(ids, Documents());
        model.GradientCheckpointing = true;
        using Tensor checkpointed = model.Logits(ids, Documents());
        Tiny.MaxAbsDiff(checkpointed, plain).Should().Be(0);
    }
}
