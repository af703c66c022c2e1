using System.Text.Json.Nodes;
using PromptLossWeight.Batching;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Loss;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Lora;

public class LoraAdapterTests
{
    private static readonly LoraConfig AllTargets = new() { R = 4, Alpha = 8, Dropout = 0, TargetModules = LoraConfig.KnownTargets };

    [Fact]
    public void At_initialisation_LoRA_leaves_the_logits_unchanged()
    {
        using var model = Tiny.Model();
        using var ids = Tiny.RandomIds(2, 6, seed: 21);
        using var before = model.Logits(ids);
        var adapter = LoraAdapter.Inject(model, AllTargets with { Dropout = 0.1 }, seed: 3);
        adapter.Layers.Should().HaveCount(2 * 7);
        using var after = model.Logits(ids);
        Tiny.MaxAbsDiff(before, after).Should().Be(0);
        adapter.Layers.Values.Should().OnlyContain(l => l.LoraA.abs().sum().item<float>() > 0, "A starts random, only B starts at zero");
    }

    [Fact]
    public void Only_the_adapter_matrices_are_trainable()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { TargetModules = ["q_proj", "down_proj"] });
        var trainable = adapter.TrainableParameters();
        trainable.Select(p => p.Name).Should().BeEquivalentTo(
            from layer in new[] { 0, 1 }
            from module in new[] { "self_attn.q_proj", "mlp.down_proj" }
            from matrix in new[] { "lora_A", "lora_B" }
            select $"model.layers.{layer}.{module}.{matrix}.weight");
        model.named_parameters().Where(p => !p.name.Contains(".lora_")).Should().OnlyContain(p => !p.parameter.requires_grad);
        model.get_parameter("model.layers.1.mlp.down_proj.lora_B.weight")!.shape.Should().Equal([32L, 4L]);
        model.get_parameter("model.layers.1.mlp.down_proj.lora_A.weight")!.shape.Should().Equal([4L, 64L]);
    }

    [Fact]
    public void After_some_optimizer_steps_only_adapter_parameters_changed()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets, seed: 1);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var batch = TinyData.ReverseBatch();
        model.train();
        Train(model, adapter, batch, steps: 3, lr: 1e-2);
        foreach (var (name, p) in model.named_parameters())
        {
            bool changed = Tiny.MaxAbsDiff(p, before[name]) > 0;
            changed.Should().Be(name.Contains(".lora_B.") || name.Contains(".lora_A."), name);
        }
    }

    [Fact]
    public void A_PEFT_adapter_saved_and_loaded_into_a_fresh_base_gives_the_same_logits()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { TargetModules = ["q_proj", "v_proj", "up_proj"] });
        RandomizeB(adapter);
        string dir = Tiny.TempDir();
        adapter.Save(dir, baseModelNameOrPath: "meta-llama/Llama-2-7b-chat-hf");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, LoraAdapter.ConfigFileName)))!;
        config["peft_type"]!.GetValue<string>().Should().Be("LORA");
        config["task_type"]!.GetValue<string>().Should().Be("CAUSAL_LM");
        config["r"]!.GetValue<int>().Should().Be(4);
        config["lora_alpha"]!.GetValue<double>().Should().Be(8);
        config["bias"]!.GetValue<string>().Should().Be("none");
        config["base_model_name_or_path"]!.GetValue<string>().Should().Be("meta-llama/Llama-2-7b-chat-hf");
        var header = SafeTensors.ReadHeader(Path.Combine(dir, LoraAdapter.WeightsFileName));
        header.Entries.Should().HaveCount(2 * 3 * 2);
        header.Find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!.Shape.Should().Equal(4, 32);
        header.Find("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight")!.Shape.Should().Equal(64, 4);

        using var fresh = Tiny.Model();
        var loaded = LoraAdapter.Load(fresh, dir);
        loaded.Config.TargetModules.Should().Equal("q_proj", "v_proj", "up_proj");
        using var ids = Tiny.RandomIds(2, 6, seed: 22);
        using var expected = model.Logits(ids);
        using var actual = fresh.Logits(ids);
        Tiny.MaxAbsDiff(expected, actual).Should().Be(0);
    }

    [Fact]
    public void A_PEFT_adapter_with_a_missing_matrix_is_rejected_naming_it()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { TargetModules = ["q_proj"] });
        string dir = Tiny.TempDir();
        adapter.Save(dir);
        string file = Path.Combine(dir, LoraAdapter.WeightsFileName);
        var tensors = SafeTensors.Load(file);
        tensors.Remove("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight");
        SafeTensors.Save(file, tensors);
        using var fresh = Tiny.Model();
        Action load = () => LoraAdapter.Load(fresh, dir);
        load.Should().Throw<CheckpointMismatchException>().Where(e => e.Missing.SequenceEqual(new[] { "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight" }));
    }

    [Fact]
    public void An_adapter_tensor_of_an_integer_dtype_is_rejected_naming_the_file_the_tensor_and_the_dtype()
    {
        string dir = SavedAdapter(tensors => tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = ones(4, 32, dtype: ScalarType.Int8));
        using var fresh = Tiny.Model();

        Action load = () => LoraAdapter.Load(fresh, dir);

        load.Should().Throw<CheckpointMismatchException>()
            .WithMessage($"{Path.Combine(dir, LoraAdapter.WeightsFileName)} does not match the model*base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: dtype I8 in adapter_model.safetensors is not floating point*");
    }

    [Fact]
    public void An_adapter_matrix_holding_infinity_is_rejected_naming_the_file_and_the_tensor_unless_the_check_is_off()
    {
        const string name = "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight";
        string dir = SavedAdapter(tensors => tensors[name][2, 1] = float.NegativeInfinity);
        string file = Path.Combine(dir, LoraAdapter.WeightsFileName);

        using (var fresh = Tiny.Model())
        {
            Action load = () => LoraAdapter.Load(fresh, dir);
            load.Should().Throw<NonFiniteWeightsException>().Where(e => e.File == file && e.TensorName == name && e.NonFiniteCount == 1)
                .WithMessage($"{file}: tensor '{name}' (F32 [32, 4]) holds 1 NaN or infinite values of 128*");
        }
        using (var fresh = Tiny.Model())
        {
            var adapter = LoraAdapter.Load(fresh, dir, requireFiniteWeights: false);
            float.IsNegativeInfinity(adapter.Layers["model.layers.1.self_attn.q_proj"].LoraB[2, 1].item<float>()).Should().BeTrue();
        }
    }

    [Fact]
    public void A_loaded_adapter_leaves_the_model_in_evaluation_mode_so_its_dropout_does_not_change_the_logits()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { Dropout = 0.5 });
        RandomizeB(adapter);
        string dir = Tiny.TempDir();
        adapter.Save(dir);
        using var fresh = Tiny.Model();
        fresh.train();

        LoraAdapter.Load(fresh, dir);

        fresh.modules().Should().OnlyContain(m => !m.training);
        using var ids = Tiny.RandomIds(2, 6, seed: 25);
        using var first = fresh.Logits(ids);
        using var second = fresh.Logits(ids);
        Tiny.MaxAbsDiff(first, second).Should().Be(0);
    }

    /// <summary>Saves a q_proj adapter with random B, then rewrites its tensors with <paramref name="edit"/>.</summary>
    private static string SavedAdapter(Action<Dictionary<string, Tensor>> edit)
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { TargetModules = ["q_proj"] });
        RandomizeB(adapter);
        string dir = Tiny.TempDir();
        adapter.Save(dir);
        string file = Path.Combine(dir, LoraAdapter.WeightsFileName);
        var tensors = SafeTensors.Load(file);
        edit(tensors);
        SafeTensors.Save(file, tensors);
        foreach (Tensor t in tensors.Values) t.Dispose();
        return dir;
    }

    [Fact]
    public void An_adapter_config_with_an_unsupported_option_is_rejected_naming_the_field()
    {
        using var model = Tiny.Model();
        string dir = Tiny.TempDir();
        LoraAdapter.Inject(model, AllTargets).Save(dir);
        string file = Path.Combine(dir, LoraAdapter.ConfigFileName);
        File.WriteAllText(file, File.ReadAllText(file).Replace("\"use_dora\": false", "\"use_dora\": true"));
        Action read = () => LoraAdapter.ReadConfig(dir);
        read.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains(file) && e.Message.Contains("\"use_dora\""));
    }

    [Fact]
    public void Merged_weights_give_the_same_logits_as_the_unmerged_adapter_and_unmerge_restores_the_base()
    {
        using var model = Tiny.Model();
        var baseWeights = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var adapter = LoraAdapter.Inject(model, AllTargets);
        RandomizeB(adapter);
        using var ids = Tiny.RandomIds(2, 7, seed: 23);
        using var unmerged = model.Logits(ids);

        adapter.Merge();
        adapter.IsMerged.Should().BeTrue();
        using var merged = model.Logits(ids);
        Tiny.MaxAbsDiff(merged, unmerged).Should().BeLessThan(1e-5);
        Tiny.MaxAbsDiff(model.get_parameter("model.layers.0.self_attn.q_proj.base_layer.weight")!, baseWeights["model.layers.0.self_attn.q_proj.weight"])
            .Should().BeGreaterThan(1e-3, "merging changes the base weight");

        adapter.Unmerge();
        foreach (var (name, p) in LlamaCheckpoint.Tensors(model))
            Tiny.MaxAbsDiff(p, baseWeights[name]).Should().BeLessThan(1e-6, name);
        using var again = model.Logits(ids);
        Tiny.MaxAbsDiff(again, unmerged).Should().BeLessThan(1e-5);
    }

    [Fact]
    public void A_merged_model_saves_as_a_plain_Hugging_Face_checkpoint()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets);
        RandomizeB(adapter);
        adapter.Merge();
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        SafeTensors.ReadHeader(Path.Combine(dir, LlamaCheckpoint.SingleFileName)).Entries.Select(e => e.Name)
            .Should().NotContain(n => n.Contains("lora") || n.Contains("base_layer"));
        using var plain = LlamaCheckpoint.Load(dir, CPU);
        using var ids = Tiny.RandomIds(1, 6, seed: 24);
        using var expected = model.Logits(ids);
        using var actual = plain.Logits(ids);
        Tiny.MaxAbsDiff(expected, actual).Should().Be(0);
    }

    [Fact]
    public void On_a_bf16_base_the_adapters_stay_fp32_and_train_while_the_base_stays_frozen()
    {
        using var model = Tiny.Model(dtype: ScalarType.BFloat16);
        var adapter = LoraAdapter.Inject(model, AllTargets, seed: 2);
        adapter.TrainableParameters().Should().OnlyContain(p => p.Parameter.dtype == ScalarType.Float32);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var batch = TinyData.ReverseBatch();
        model.train();
        Train(model, adapter, batch, steps: 3, lr: 1e-2);
        foreach (var (name, p) in model.named_parameters())
            (Tiny.MaxAbsDiff(p, before[name]) > 0).Should().Be(name.Contains(".lora_"), name);
        using var ids = Tiny.RandomIds(1, 6, seed: 25);
        using var logits = model.Logits(ids);
        logits.dtype.Should().Be(ScalarType.BFloat16);
        isfinite(logits).all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [InlineData(0, 16, 0.0, "q_proj", "R")]
    [InlineData(8, 0, 0.0, "q_proj", "Alpha")]
    [InlineData(8, 16, 1.0, "q_proj", "Dropout")]
    [InlineData(8, 16, 0.0, "lm_head", "TargetModules")]
    public void Invalid_LoRA_settings_are_rejected_naming_the_field(int r, double alpha, double dropout, string target, string field)
    {
        var config = new LoraConfig { R = r, Alpha = alpha, Dropout = dropout, TargetModules = [target] };
        config.Invoking(c => c.Validate()).Should().Throw<ArgumentException>().Where(e => e.ParamName == field);
    }

    [Fact]
    public void Injecting_twice_is_rejected()
    {
        using var model = Tiny.Model();
        LoraAdapter.Inject(model, AllTargets);
        Action again = () => LoraAdapter.Inject(model, AllTargets);
        again.Should().Throw<InvalidOperationException>().Where(e => e.Message.Contains("model.layers.0.self_attn.q_proj"));
    }

    [Fact]
    public void A_tiny_Llama_with_LoRA_learns_its_completions_under_prompt_loss_weighting()
    {
        using var model = Tiny.Model();
        var adapter = LoraAdapter.Inject(model, AllTargets with { R = 8, Alpha = 16 }, seed: 5);
        using var batch = TinyData.ReverseBatch();
        double initial = CompletionLoss(model, batch);
        model.train();
        Train(model, adapter, batch, steps: 40, lr: 2e-2, plw: 0.1);
        model.eval();
        double final = CompletionLoss(model, batch);
        final.Should().BeLessThan(0.5 * initial, $"the completion loss went from {initial:F3} to {final:F3}");
    }

    internal static void Train(LlamaForCausalLM model, LoraAdapter adapter, Batch batch, int steps, double lr, double plw = 0.1)
    {
        using var optimizer = optim.AdamW(adapter.TrainableParameters().Select(p => p.Parameter), lr: lr, weight_decay: 0);
        using var weights = batch.Weights(plw);
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            Tensor loss = WeightedCrossEntropy.Compute(logits, batch.Labels, weights);
            loss.backward();
            optimizer.step();
        }
    }

    private static double CompletionLoss(LlamaForCausalLM model, Batch batch)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        return WeightedCrossEntropy.Compute(logits, batch.Labels, batch.CompletionMask()).item<float>();
    }

    private static void RandomizeB(LoraAdapter adapter)
    {
        var generator = new Generator(77);
        using var noGrad = no_grad();
        foreach (LoraLinear layer in adapter.Layers.Values)
        {
            using Tensor values = randn(layer.LoraB.shape, generator: generator) * 0.1;
            layer.LoraB.copy_(values);
        }
    }
}
