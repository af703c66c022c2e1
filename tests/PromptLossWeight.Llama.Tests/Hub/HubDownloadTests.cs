using System.Security.Cryptography;
using System.Text;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Tests.Support;

namespace PromptLossWeight.Llama.Tests.Hub;

public sealed class HubDownloadTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly LoopbackHub _hub = new();
    private static readonly string Commit = FakeHubCache.Commit("hub main");

    public void Dispose()
    {
        _hub.Dispose();
        _dir.Dispose();
    }

    private string Cache => _dir.File("hub");

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A model repository with the files a checkpoint needs plus some that it does not.</summary>
    private static Dictionary<string, byte[]> Model() => new()
    {
        ["config.json"] = "{\"hidden_size\":16}"u8.ToArray(),
        ["generation_config.json"] = "{\"do_sample\":false}"u8.ToArray(),
        ["tokenizer.json"] = "{\"model\":{}}"u8.ToArray(),
        ["tokenizer_config.json"] = "{}"u8.ToArray(),
        ["model-00001-of-00002.safetensors"] = Random(300_000, 1),
        ["model-00002-of-00002.safetensors"] = Random(2_500_000, 2),
        ["model.safetensors.index.json"] = "{\"weight_map\":{}}"u8.ToArray(),
        ["README.md"] = "# a model"u8.ToArray(),
        ["pytorch_model.bin"] = Random(1000, 3),
        ["original/consolidated.00.pth"] = Random(1000, 4),
    };

    private HubOptions Options(params (string Name, string Value)[] env) => new()
    {
        CacheDirectory = Cache,
        AllowDownload = true,
        Environment = name => name == "HF_ENDPOINT" ? _hub.Endpoint : env.FirstOrDefault(v => v.Name == name).Value,
    };

    [Fact]
    public void A_fresh_download_fills_the_cache_in_the_layout_the_python_client_uses()
    {
        var files = Model();
        _hub.AddRepo("models/org/tiny", Commit, files);
        var reports = new List<HubDownloadProgress>();

        string folder = HuggingFaceHub.ResolveModelFolder("org/tiny", Options() with { Progress = new Inline<HubDownloadProgress>(reports.Add) });

        string repo = Path.Combine(Cache, "models--org--tiny");
        folder.Should().Be(Path.Combine(repo, "snapshots", Commit));
        File.ReadAllText(Path.Combine(repo, "refs", "main")).Should().Be(Commit);
        string[] expected = ["config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
            "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"];
        Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).Should().Equal(expected);
        foreach (string file in expected)
        {
            var link = new FileInfo(Path.Combine(folder, file));
            string etag = LoopbackHub.IsLfs(file) ? LoopbackHub.Sha256(files[file]) : LoopbackHub.GitBlobSha1(files[file]);
            link.LinkTarget.Should().Be(Path.Combine("..", "..", "blobs", etag), $"{file} links to its blob named by its ETag");
            File.ReadAllBytes(link.FullName).Should().Equal(files[file], file);
        }
        Directory.GetFiles(Path.Combine(repo, "blobs"), "*.incomplete").Should().BeEmpty();
        reports.Where(r => r.Completed).Select(r => r.File).Should().BeEquivalentTo(expected);
        reports.Where(r => r.File == "model-00002-of-00002.safetensors").Select(r => r.BytesDone).Should().BeInAscendingOrder()
            .And.HaveCountGreaterThan(2, "a 2.5 MB file reports about every MiB").And.EndWith(2_500_000);
        _hub.Requests.Where(r => r.Path.Contains("pytorch_model") || r.Path.Contains("README") || r.Path.Contains("original/")).Should().BeEmpty();
    }

    [Fact]
    public void A_partial_file_left_by_an_interrupted_download_is_resumed_with_a_range_request()
    {
        var files = Model();
        _hub.AddRepo("models/org/tiny", Commit, files);
        byte[] shard = files["model-00002-of-00002.safetensors"];
        string blobs = Path.Combine(Cache, "models--org--tiny", "blobs");
        Directory.CreateDirectory(blobs);
        string incomplete = Path.Combine(blobs, LoopbackHub.Sha256(shard) + ".incomplete");
        File.WriteAllBytes(incomplete, shard[..1_000_000]);

        string folder = HuggingFaceHub.ResolveModelFolder("org/tiny", Options());

        File.ReadAllBytes(Path.Combine(folder, "model-00002-of-00002.safetensors")).Should().Equal(shard);
        File.Exists(incomplete).Should().BeFalse();
        var cdn = _hub.Requests.Where(r => r.Path == "/cdn/" + LoopbackHub.Sha256(shard)).ToList();
        cdn.Should().ContainSingle().Which.Range.Should().Be("bytes=1000000-");
    }

    [Fact]
    public void A_download_whose_bytes_do_not_match_the_sha256_etag_fails_and_leaves_nothing_behind()
    {
        var files = Model();
        _hub.AddRepo("models/org/tiny", Commit, files);
        byte[] shard = files["model-00001-of-00002.safetensors"];
        byte[] corrupt = (byte[])shard.Clone();
        corrupt[12345] ^= 0x01;
        _hub.CorruptCdn[LoopbackHub.Sha256(shard)] = corrupt;

        var load = () => HuggingFaceHub.ResolveModelFolder("org/tiny", Options());

        load.Should().Throw<HubException>()
            .WithMessage($"*model-00001-of-00002.safetensors: checksum mismatch*sha256 is {LoopbackHub.Sha256(corrupt)}*ETag is {LoopbackHub.Sha256(shard)}*");
        string repo = Path.Combine(Cache, "models--org--tiny");
        Directory.GetFiles(Path.Combine(repo, "blobs")).Select(Path.GetFileName).Should().NotContain(n => n!.StartsWith(LoopbackHub.Sha256(shard)));
        File.Exists(Path.Combine(repo, "snapshots", Commit, "model-00001-of-00002.safetensors")).Should().BeFalse();
        File.Exists(Path.Combine(repo, "refs", "main")).Should().BeFalse("a failed download does not publish the revision");

        _hub.CorruptCdn.Clear();
        string folder = HuggingFaceHub.ResolveModelFolder("org/tiny", Options());
        File.ReadAllBytes(Path.Combine(folder, "model-00001-of-00002.safetensors")).Should().Equal(shard, "a retry downloads afresh");
    }

    [Fact]
    public void HF_TOKEN_is_sent_as_a_bearer_token_to_the_hub_but_not_to_the_file_host()
    {
        using var fileHost = new LoopbackHub();
        fileHost.AddRepo("models/org/gated", Commit, Model());
        _hub.AddRepo("models/org/gated", Commit, Model());
        _hub.FileHost = fileHost;
        _hub.RequiredToken = "hf_secret";

        var withoutToken = () => HuggingFaceHub.ResolveModelFolder("org/gated", Options());
        withoutToken.Should().Throw<HubException>().WithMessage("*HTTP 401*gated or private*HF_TOKEN*");

        HuggingFaceHub.ResolveModelFolder("org/gated", Options(("HF_TOKEN", "hf_secret")));

        var hubRequests = _hub.Requests.Where(r => !r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        hubRequests.Where(r => r.Authorization == "Bearer hf_secret").Should().NotBeEmpty();
        hubRequests.Where(r => r.Authorization is null).Should().HaveCount(1, "only the first, tokenless listing went without it");
        fileHost.Requests.Should().NotBeEmpty().And.OnlyContain(r => r.Path.StartsWith("/cdn/") && r.Authorization == null,
            "the token never leaves the Hub's origin");
    }

    [Fact]
    public void HF_ENDPOINT_chooses_the_hub_and_an_explicit_endpoint_overrides_it()
    {
        _hub.AddRepo("models/org/tiny", Commit, Model());
        var options = new HubOptions
        {
            CacheDirectory = Cache, AllowDownload = true,
            Environment = name => name == "HF_ENDPOINT" ? _hub.Endpoint + "/" : null,
        };
        options.ResolveEndpoint().Should().Be(_hub.Endpoint);
        new HubOptions { Environment = _ => null }.ResolveEndpoint().Should().Be(HubOptions.DefaultEndpoint);
        (options with { Endpoint = "http://127.0.0.1:9" }).ResolveEndpoint().Should().Be("http://127.0.0.1:9");

        HuggingFaceHub.ResolveModelFolder("org/tiny", options);

        _hub.Requests.Should().Contain(r => r.Path == "/api/models/org/tiny/revision/main");
    }

    [Fact]
    public void A_cached_model_is_served_without_any_request_even_when_downloads_are_allowed()
    {
        var cache = new FakeHubCache(Cache);
        string snapshot = cache.AddSnapshot("models", "org/tiny", Commit, new() { ["config.json"] = "{}"u8.ToArray() });
        _hub.AddRepo("models/org/tiny", FakeHubCache.Commit("newer"), Model());

        HuggingFaceHub.ResolveModelFolder("org/tiny", Options()).Should().Be(snapshot);

        _hub.Requests.Should().BeEmpty();
    }

    [Fact]
    public void A_dataset_downloads_its_parquet_files_under_the_datasets_prefix()
    {
        byte[] train = Random(5000, 7), validation = Random(3000, 8);
        _hub.AddRepo("datasets/ehovy/race", Commit, new()
        {
            ["all/train-00000-of-00001.parquet"] = train,
            ["all/validation-00000-of-00001.parquet"] = validation,
            ["high/train-00000-of-00001.parquet"] = Random(100, 9),
            ["README.md"] = "# race"u8.ToArray(),
        });

        string folder = HuggingFaceHub.ResolveDatasetFolder("ehovy/race", Options(), f => f.StartsWith("all/", StringComparison.Ordinal));

        folder.Should().Be(Path.Combine(Cache, "datasets--ehovy--race", "snapshots", Commit));
        File.ReadAllBytes(Path.Combine(folder, "all", "train-00000-of-00001.parquet")).Should().Equal(train);
        File.ReadAllBytes(Path.Combine(folder, "all", "validation-00000-of-00001.parquet")).Should().Equal(validation);
        new FileInfo(Path.Combine(folder, "all", "train-00000-of-00001.parquet")).LinkTarget
            .Should().Be(Path.Combine("..", "..", "..", "blobs", LoopbackHub.Sha256(train)));
        Directory.Exists(Path.Combine(folder, "high")).Should().BeFalse();
        _hub.Requests.Should().Contain(r => r.Path == "/api/datasets/ehovy/race/revision/main")
            .And.Contain(r => r.Path == "/datasets/ehovy/race/resolve/" + Commit + "/all/train-00000-of-00001.parquet");
    }

    [Fact]
    public void An_unknown_repo_is_a_404_that_names_the_repo()
    {
        var load = () => HuggingFaceHub.ResolveModelFolder("org/missing", Options());

        load.Should().Throw<HubException>().WithMessage("*/api/models/org/missing/revision/main: HTTP 404*model org/missing (revision main)*");
    }

    [Fact]
    public void An_unreachable_endpoint_fails_with_the_address_in_the_message()
    {
        var options = Options() with { Endpoint = "http://127.0.0.1:9" };

        var load = () => HuggingFaceHub.ResolveModelFolder("org/tiny", options);

        load.Should().Throw<HubException>().WithMessage("*http://127.0.0.1:9/api/models/org/tiny/revision/main failed*");
    }

    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
