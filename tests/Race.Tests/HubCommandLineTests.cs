using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Samples.Race;
using PromptLossWeight.Samples.Race.Synthetic;
using PromptLossWeight.Llama.Tests.Support;

namespace Race.Tests;

/// <summary>The sample run with Hugging Face ids: a fake hub cache built here, and a loopback Hub for --download.</summary>
[Collection("console")]
public sealed class HubCommandLineTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        TextWriter original = Console.Error;
        Console.SetError(error);
        try
        {
            return (Program.Main(args), error.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }

    /// <summary>A tiny Llama checkpoint with the word-level vocabulary, as a folder.</summary>
    private string TinyCheckpoint()
    {
        string folder = _dir.File("staging-model");
        var tokenizer = WordLevelTokenizer.Load();
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true,
        };
        using (var model = new LlamaForCausalLM(config).InitializeWeights(3))
            LlamaCheckpoint.Save(model, folder);
        File.Copy(WordLevelTokenizer.DefaultVocabularyPath, Path.Combine(folder, "vocab.txt"));
        return folder;
    }

    /// <summary>
    /// A tiny checkpoint of another family (Qwen3, or Gemma 3 with a window shorter than the examples) with the word-level
    /// vocabulary and a chat template of its own in tokenizer_config.json.
    /// </summary>
    private string TinyFamilyCheckpoint(ModelFamily family)
    {
        string folder = _dir.File($"staging-{family}");
        var tokenizer = WordLevelTokenizer.Load();
        var config = new LlamaConfig
        {
            Family = family, HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 1,
            HeadDimOverride = 8, VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true,
        };
        if (family == ModelFamily.Gemma3Text)
            config = config with
            {
                Activation = HiddenActivation.GeluTanh, SlidingWindow = 8, LayerTypes = [LlamaConfig.SlidingAttention, LlamaConfig.FullAttention],
                QueryPreAttnScalar = 8, RopeLocalTheta = 10000,
            };
        using (var model = new LlamaForCausalLM(config).InitializeWeights(3))
            LlamaCheckpoint.Save(model, folder);
        File.Copy(WordLevelTokenizer.DefaultVocabularyPath, Path.Combine(folder, "vocab.txt"));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
            """{ "chat_template": "{% for m in messages %}{{ m.role }} : {{ m.content }}\n{% endfor %}" }""");
        return folder;
    }

    [Theory]
    [InlineData(ModelFamily.Qwen3)]
    [InlineData(ModelFamily.Gemma3Text)]
    public void A_checkpoint_of_another_family_trains_with_the_folders_own_chat_template(ModelFamily family)
    {
        string model = TinyFamilyCheckpoint(family), race = RaceParquetRepo();

        var (code, error) = Run(TinySweep("--model", model, "--data", race));

        error.Should().BeEmpty();
        code.Should().Be(0);
        string report = File.ReadAllText(Path.Combine(_dir.File("out"), "report.md"));
        report.Should().Contain("template chat_template of").And.Contain("tokenizer_config.json");
    }

    [Fact]
    public void A_llama_3_folder_with_tokenizer_json_trains_with_its_own_chat_template()
    {
        string model = Llama3Folder.Write(_dir.File("staging-llama3")), race = RaceParquetRepo();

        var (code, error) = Run(TinySweep("--model", model, "--data", race));

        error.Should().BeEmpty();
        code.Should().Be(0);
        string report = File.ReadAllText(Path.Combine(_dir.File("out"), "report.md"));
        report.Should().Contain("template chat_template of").And.Contain("tokenizer_config.json");
    }

    /// <summary>RACE as the Hub's Parquet conversion lays it out: all/train-00000-of-00001.parquet, all/validation-….</summary>
    private string RaceParquetRepo()
    {
        string folder = _dir.File("staging-race");
        Directory.CreateDirectory(Path.Combine(folder, "all"));
        var examples = RaceFixtureFiles.Examples(24);
        RaceParquet.Write(Path.Combine(folder, "all", "train-00000-of-00001.parquet"), examples.Take(16).ToList());
        RaceParquet.Write(Path.Combine(folder, "all", "validation-00000-of-00001.parquet"), examples.Skip(16).ToList());
        return folder;
    }

    private string[] TinySweep(params string[] args) =>
    [
        .. args, "--plw", "0.1", "--max-steps", "2", "--eval-steps", "1", "--batch-size", "4", "--lora-rank", "2",
        "--max-eval-examples", "8", "--device", "cpu", "--output", _dir.File("out"),
    ];

    [Fact]
    public void A_model_and_race_given_by_hugging_face_id_are_read_from_the_hub_cache()
    {
        var cache = new FakeHubCache(_dir.File("hub"));
        string modelSnapshot = cache.AddSnapshotFromFolder("models", "org/tiny-llama", FakeHubCache.Commit("model"), TinyCheckpoint());
        cache.AddSnapshotFromFolder("datasets", "org/race", FakeHubCache.Commit("race"), RaceParquetRepo());
        byte[] weights = File.ReadAllBytes(Path.Combine(modelSnapshot, LlamaCheckpoint.SingleFileName));

        var (code, error) = Run(TinySweep("--model", "org/tiny-llama", "--data", "org/race", "--cache-dir", cache.Root));

        error.Should().BeEmpty();
        code.Should().Be(0);
        string report = File.ReadAllText(Path.Combine(_dir.File("out"), "report.md"));
        report.Should().Contain("org/tiny-llama").And.Contain("org/race");
        File.ReadAllBytes(Path.Combine(modelSnapshot, LlamaCheckpoint.SingleFileName)).Should().Equal(weights, "the cached base model is never written");
        Directory.GetFiles(Path.Combine(_dir.File("out"), "runs", "plw_0.1"), "adapter_model.safetensors", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(_dir.File("out"), "runs", "plw_0.1"), "model.safetensors", SearchOption.AllDirectories))
            .Should().NotBeEmpty();
    }

    [Fact]
    public void An_id_missing_from_the_cache_exits_1_with_the_download_command()
    {
        var (code, error) = Run(TinySweep("--model", "org/absent", "--cache-dir", _dir.File("empty-hub")));

        code.Should().Be(1);
        error.Should().Contain("'org/absent' is neither a folder nor a cached model").And.Contain(Path.Combine(_dir.File("empty-hub"), "models--org--absent"))
            .And.Contain("`huggingface-cli download org/absent`").And.NotContain("   at ");
    }

    [Fact]
    public void Download_fetches_the_model_and_race_from_the_hub_named_by_HF_ENDPOINT_into_the_cache()
    {
        using var hub = new LoopbackHub();
        string commit = FakeHubCache.Commit("hub model");
        string model = TinyCheckpoint(), race = RaceParquetRepo();
        var modelFiles = Directory.GetFiles(model).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        modelFiles["README.md"] = "# tiny"u8.ToArray();
        hub.AddRepo("models/org/tiny-llama", commit, modelFiles);
        hub.AddRepo("datasets/org/race", commit, Directory.GetFiles(Path.Combine(race, "all")).ToDictionary(f => "all/" + Path.GetFileName(f), File.ReadAllBytes));
        string cache = _dir.File("hub");
        string? previous = Environment.GetEnvironmentVariable("HF_ENDPOINT");
        Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);   // the "console" collection runs alone
        try
        {
            var (code, error) = Run(TinySweep("--model", "org/tiny-llama", "--data", "org/race", "--cache-dir", cache, "--download"));

            error.Should().BeEmpty();
            code.Should().Be(0);
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", previous);
        }
        File.ReadAllText(Path.Combine(cache, "models--org--tiny-llama", "refs", "main")).Should().Be(commit);
        File.ReadAllText(Path.Combine(cache, "datasets--org--race", "refs", "main")).Should().Be(commit);
        File.ReadAllBytes(Path.Combine(cache, "models--org--tiny-llama", "snapshots", commit, "config.json"))
            .Should().Equal(File.ReadAllBytes(Path.Combine(model, "config.json")));
        hub.Requests.Should().Contain(r => r.Path == "/api/models/org/tiny-llama/revision/main")
            .And.Contain(r => r.Path == "/api/datasets/org/race/revision/main");
        hub.Requests.Should().NotContain(r => r.Path.Contains("README.md"), "only the files a checkpoint needs are downloaded");
    }
}
