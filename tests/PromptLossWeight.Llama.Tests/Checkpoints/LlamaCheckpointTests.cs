using PromptLossWeight.Llama.Hub;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tests.Support;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Checkpoints;

public class LlamaCheckpointTests
{
    [Fact]
    public void A_saved_then_loaded_model_gives_identical_logits()
    {
        using var model = Tiny.Model();
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        File.Exists(Path.Combine(dir, "config.json")).Should().BeTrue();
        File.Exists(Path.Combine(dir, LlamaCheckpoint.SingleFileName)).Should().BeTrue();
        File.Exists(Path.Combine(dir, LlamaCheckpoint.IndexFileName)).Should().BeFalse();

        using var loaded = LlamaCheckpoint.Load(dir, CPU);
        using var ids = Tiny.RandomIds(2, 6, seed: 5);
        using var a = model.Logits(ids);
        using var b = loaded.Logits(ids);
        Tiny.MaxAbsDiff(a, b).Should().Be(0);
        loaded.Config.Should().BeEquivalentTo(model.Config, o => o.Excluding(c => c.HeadDimOverride));
    }

    [Fact]
    public void A_repo_id_loads_the_sharded_checkpoint_of_its_snapshot_in_the_hugging_face_cache()
    {
        using var model = Tiny.Model();
        string staging = Tiny.TempDir(), hub = Tiny.TempDir();
        LlamaCheckpoint.Save(model, staging, maxShardBytes: 20_000);
        string snapshot = new FakeHubCache(hub).AddSnapshotFromFolder("models", "org/tiny-llama", FakeHubCache.Commit("tiny"), staging);
        new FileInfo(Path.Combine(snapshot, LlamaCheckpoint.IndexFileName)).LinkTarget.Should().NotBeNull("snapshot files link into blobs/");

        using var loaded = LlamaCheckpoint.Load("org/tiny-llama", CPU, hub: new HubOptions { CacheDirectory = hub });

        using var ids = Tiny.RandomIds(1, 8, seed: 7);
        using var a = model.Logits(ids);
        using var b = loaded.Logits(ids);
        Tiny.MaxAbsDiff(a, b).Should().Be(0);
        Action missing = () => LlamaCheckpoint.Load("org/other", CPU, hub: new HubOptions { CacheDirectory = hub });
        missing.Should().Throw<HubException>().WithMessage("*huggingface-cli download org/other*");
    }

    [Fact]
    public void Sharded_and_single_file_checkpoints_load_the_same()
    {
        using var model = Tiny.Model();
        string single = Tiny.TempDir(), sharded = Tiny.TempDir();
        LlamaCheckpoint.Save(model, single);
        LlamaCheckpoint.Save(model, sharded, maxShardBytes: 20_000);

        string[] shards = Directory.GetFiles(sharded, "model-*-of-*.safetensors");
        shards.Length.Should().BeGreaterThan(2);
        File.Exists(Path.Combine(sharded, LlamaCheckpoint.IndexFileName)).Should().BeTrue();
        ShardIndex.Read(Path.Combine(sharded, LlamaCheckpoint.IndexFileName)).Values.Distinct().Should().HaveCount(shards.Length);

        using var fromSingle = LlamaCheckpoint.Load(single, CPU);
        using var fromShards = LlamaCheckpoint.Load(sharded, CPU);
        using var ids = Tiny.RandomIds(1, 8, seed: 6);
        using var a = fromSingle.Logits(ids);
        using var b = fromShards.Logits(ids);
        Tiny.MaxAbsDiff(a, b).Should().Be(0);
    }

    [Fact]
    public void A_missing_tensor_is_named_in_the_error()
    {
        string dir = SavedTiny(tensors => tensors.Remove("model.layers.1.mlp.up_proj.weight"));
        Action load = () => LlamaCheckpoint.Load(dir, CPU);
        load.Should().Throw<CheckpointMismatchException>()
            .Where(e => e.Message.Contains("missing tensors: model.layers.1.mlp.up_proj.weight") && e.Missing.Count == 1);
    }

    [Fact]
    public void A_mis_shaped_tensor_is_named_with_both_shapes()
    {
        string dir = SavedTiny(tensors => tensors["model.layers.0.self_attn.k_proj.weight"] = zeros(32, 32));
        Action load = () => LlamaCheckpoint.Load(dir, CPU);
        load.Should().Throw<CheckpointMismatchException>()
            .Where(e => e.MisShaped.Single() == "model.layers.0.self_attn.k_proj.weight: expected [16, 32], found [32, 32] in model.safetensors");
    }

    [Fact]
    public void An_unexpected_tensor_is_named_but_an_old_rotary_table_is_ignored()
    {
        string dir = SavedTiny(tensors =>
        {
            tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = zeros(4);
            tensors["model.layers.5.mlp.up_proj.weight"] = zeros(64, 32);
        });
        Action load = () => LlamaCheckpoint.Load(dir, CPU);
        load.Should().Throw<CheckpointMismatchException>().Where(e => e.Unexpected.SequenceEqual(new[] { "model.layers.5.mlp.up_proj.weight" }));
    }

    [Fact]
    public void A_tied_model_ignores_a_stored_lm_head_and_keeps_sharing_the_embedding()
    {
        using var model = Tiny.Model(Tiny.Config(tied: true));
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        string file = Path.Combine(dir, LlamaCheckpoint.SingleFileName);
        var tensors = SafeTensors.Load(file);
        tensors["lm_head.weight"] = zeros(64, 32);
        SafeTensors.Save(file, tensors);

        using var loaded = LlamaCheckpoint.Load(dir, CPU);
        using var ids = Tiny.RandomIds(1, 5, seed: 8);
        using var a = model.Logits(ids);
        using var b = loaded.Logits(ids);
        Tiny.MaxAbsDiff(a, b).Should().Be(0);
    }

    [Fact]
    public void An_index_that_points_outside_the_folder_is_rejected()
    {
        using var model = Tiny.Model();
        string dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir, maxShardBytes: 20_000);
        string index = Path.Combine(dir, LlamaCheckpoint.IndexFileName);
        string text = File.ReadAllText(index);
        File.WriteAllText(index, text.Replace("\"model-00001-of-", "\"../model-00001-of-"));
        Action load = () => LlamaCheckpoint.Load(dir, CPU);
        load.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains("outside the checkpoint folder") && e.Message.Contains("../model-00001"));
    }

    [Fact]
    public void Weights_are_converted_to_the_requested_dtype_and_saved_in_it()
    {
        using var model = Tiny.Model();
        string dir = Tiny.TempDir(), bf16Dir = Tiny.TempDir();
        LlamaCheckpoint.Save(model, dir);
        using var bf16 = LlamaCheckpoint.Load(dir, CPU, ScalarType.BFloat16);
        bf16.OutputWeight.dtype.Should().Be(ScalarType.BFloat16);
        using var expected = model.OutputWeight.to(ScalarType.BFloat16);
        Tiny.MaxAbsDiff(bf16.OutputWeight, expected).Should().Be(0);

        LlamaCheckpoint.Save(bf16, bf16Dir);
        SafeTensors.ReadHeader(Path.Combine(bf16Dir, LlamaCheckpoint.SingleFileName)).Entries.Should().OnlyContain(e => e.DType == "BF16");
        LlamaConfig.Load(bf16Dir).TorchDtype.Should().Be("bfloat16");
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
