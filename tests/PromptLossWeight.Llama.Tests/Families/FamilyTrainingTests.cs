using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Families;

/// <summary>
/// Fine-tuning each family's tiny checkpoint with LoRA: the chunked loss equals the loss of the full (soft-capped, for
/// Gemma 2) logits in value and adapter gradients, gradient checkpointing changes neither, an optimiser step lowers the
/// loss, and the adapter saves under PEFT names and loads back.
/// </summary>
public class FamilyTrainingTests
{
    /// <summary>Two packed documents and padding in one row, one document and padding in the other; both pass the window.</summary>
    private static Tensor Documents() => tensor(new long[]
    {
        1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
    }, [2, 14]);

    private static Tensor Ids() => Tiny.RandomIds(2, 14, seed: 11, vocab: 48);

    private static LoraAdapter WithLora(LlamaForCausalLM model)
    {
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0, TargetModules = LoraConfig.KnownTargets }, seed: 3);
        using (no_grad())
        {
            var generator = new Generator(5);
            // B starts at zero, which would make every A gradient zero: give B values so that both matrices get gradients.
            foreach (var (_, p) in model.named_parameters().Where(p => p.name.Contains("lora_B")))
                p.copy_(randn(p.shape, generator: generator) * 0.1);
        }
        model.train();
        return adapter;
    }

    private static (float Loss, Dictionary<string, Tensor> Gradients) Step(LlamaForCausalLM model, bool chunked, bool checkpointing)
    {
        model.GradientCheckpointing = checkpointing;
        model.zero_grad();
        Tensor ids = Ids(), documents = Documents();
        Tensor weights = documents.ne(0).to(ScalarType.Float32);
        Tensor loss = chunked
            ? ChunkedWeightedCrossEntropy.Compute(model.HiddenStates(ids, documents), model.OutputWeight, ids, weights, chunkSize: 5,
                logitSoftcap: model.LogitSoftcap)
            : WeightedCrossEntropy.Compute(model.Logits(ids, documents), ids, weights);
        loss.backward();
        var gradients = model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        return (loss.item<float>(), gradients);
    }

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void The_chunked_loss_with_gradient_checkpointing_gives_the_loss_and_adapter_gradients_of_full_logits(string family)
    {
        using var model = FamilyFixtures.Load(family);
        WithLora(model);

        var full = Step(model, chunked: false, checkpointing: false);
        var chunked = Step(model, chunked: true, checkpointing: false);
        var checkpointed = Step(model, chunked: true, checkpointing: true);

        full.Gradients.Keys.Should().OnlyContain(name => name.Contains(".lora_")).And.Contain("model.layers.0.self_attn.q_proj.lora_A.weight");
        foreach (var actual in new[] { chunked, checkpointed })
        {
            actual.Loss.Should().BeApproximately(full.Loss, 1e-5f);
            actual.Gradients.Keys.Should().BeEquivalentTo(full.Gradients.Keys);
            foreach (var (name, gradient) in full.Gradients)
                Tiny.MaxAbsDiff(actual.Gradients[name], gradient).Should().BeLessThanOrEqualTo(1e-5 * Math.Max(1.0, gradient.abs().max().item<float>()), name);
        }
    }

    [Theory]
    [MemberData(nameof(FamilyFixtures.All), MemberType = typeof(FamilyFixtures))]
    public void A_LoRA_step_lowers_the_loss_and_the_adapter_saves_under_PEFT_names_and_loads_back(string family)
    {
        using var model = FamilyFixtures.Load(family);
        var adapter = WithLora(model);
        var optimizer = optim.AdamW(adapter.TrainableParameters().Select(p => p.Parameter), lr: 1e-2);

        float before = Step(model, chunked: true, checkpointing: true).Loss;
        optimizer.step();
        float after = Step(model, chunked: true, checkpointing: true).Loss;
        after.Should().BeLessThan(before);

        string folder = Tiny.TempDir();
        adapter.Save(folder);
        var names = PromptLossWeight.IO.SafeTensors.ReadHeader(Path.Combine(folder, LoraAdapter.WeightsFileName)).Entries.Select(e => e.Name);
        names.Should().Contain("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
            .And.Contain("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
        model.eval();
        using var noGrad = no_grad();
        using Tensor tuned = model.Logits(Ids());
        using var reloaded = FamilyFixtures.Load(family);
        LoraAdapter.Load(reloaded, folder);
        reloaded.eval();
        using Tensor again = reloaded.Logits(Ids());
        Tiny.MaxAbsDiff(again, tuned).Should().BeLessThanOrEqualTo(1e-6);
    }
}
