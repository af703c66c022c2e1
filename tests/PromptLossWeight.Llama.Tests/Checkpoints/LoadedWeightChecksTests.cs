using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Checkpoints;

/// <summary>What loading a Hugging Face checkpoint refuses, and the state the model comes back in.</summary>
public class LoadedWeightChecksTests
{
    [Fact]
    public void A_loaded_model_comes_back_in_evaluation_mode_like_from_pretrained()
    {
        using var model = Tiny.Model();
        model.train();
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);

        using var loaded = LlamaCheckpoint.Load(dir, CPU);

        loaded.training.Should().BeFalse();
        loaded.modules().Should().OnlyContain(m => !m.training, "every submodule is in evaluation mode");
    }

    [Fact]
    public void A_weight_holding_NaN_is_rejected_naming_the_file_the_tensor_and_the_count()
    {
        string dir = SavedTiny(tensors => tensors["model.layers.1.mlp.down_proj.weight"][0, 3] = float.NaN);
        string file = Path.Combine(dir, LlamaCheckpoint.SingleFileName);

        Action load = () => LlamaCheckpoint.Load(dir, CPU);

        load.Should().Throw<NonFiniteWeightsException>()
            .Where(e => e.File == file && e.TensorName == "model.layers.1.mlp.down_proj.weight" && e.NonFiniteCount == 1)
            .WithMessage($"{file}: tensor 'model.layers.1.mlp.down_proj.weight' (F32 [32, 64]) holds 1 NaN or infinite values of 2048; *requireFiniteWeights: false*");
    }

    [Fact]
    public void The_finite_check_can_be_switched_off_to_load_a_damaged_model_anyway()
    {
        string dir = SavedTiny(tensors => tensors["model.norm.weight"][1] = float.PositiveInfinity);

        using var loaded = LlamaCheckpoint.Load(dir, CPU, requireFiniteWeights: false);

        float.IsPositiveInfinity(loaded.get_parameter("model.norm.weight")![1].item<float>()).Should().BeTrue();
    }

    [Fact]
    public void A_value_too_large_for_float16_is_reported_as_an_overflow_of_the_conversion()
    {
        string dir = SavedTiny(tensors => tensors["model.embed_tokens.weight"][5, 5] = 1e6f);

        Action load = () => LlamaCheckpoint.Load(dir, CPU, ScalarType.Float16);

        load.Should().Throw<NonFiniteWeightsException>()
            .WithMessage("*tensor 'model.embed_tokens.weight' (F32 [64, 32]) overflows Float16: 1 of 2048 values become infinite*");
    }

    [Fact]
    public void An_integer_tensor_is_rejected_naming_the_file_the_tensor_and_its_dtype()
    {
        string dir = SavedTiny(tensors => tensors["model.norm.weight"] = ones(32, dtype: ScalarType.Int8));

        Action load = () => LlamaCheckpoint.Load(dir, CPU);

        load.Should().Throw<CheckpointMismatchException>()
            .WithMessage($"{Path.Combine(dir, LlamaCheckpoint.SingleFileName)} does not match the model*model.norm.weight: dtype I8 in model.safetensors is not floating point*");
    }

    [Fact]
    public void Weights_with_more_layers_than_config_json_says_are_reported_with_the_layer_counts()
    {
        using var model = Tiny.Model(Tiny.Config() with { NumHiddenLayers = 3 });
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        Tiny.Config().Save(Path.Combine(dir, "config.json")); // config.json now says 2 layers

        Action load = () => LlamaCheckpoint.Load(dir, CPU);

        load.Should().Throw<CheckpointMismatchException>()
            .Where(e => e.Unexpected.Count == 9 && e.WeightsPath == Path.Combine(dir, LlamaCheckpoint.SingleFileName))
            .WithMessage("*model.safetensors does not match the model (config.json says num_hidden_layers = 2, but the weights hold 3 layers): unexpected tensors (9): model.layers.2.*and 1 more.");
    }

    /// <summary>Saves a tiny model, then rewrites its tensors with <paramref name="edit"/>.</summary>
    private static string SavedTiny(Action<Dictionary<string, Tensor>> edit)
    {
        using var model = Tiny.Model();
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        string file = Path.Combine(dir, LlamaCheckpoint.SingleFileName);
        var tensors = SafeTensors.Load(file);
        edit(tensors);
        SafeTensors.Save(file, tensors);
        foreach (Tensor t in tensors.Values) t.Dispose();
        return dir;
    }
}
