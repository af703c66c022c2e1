using System.Text;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Tests.Support;

namespace PromptLossWeight.Llama.Tests.Hub;

public sealed class HubCacheResolutionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    private static Dictionary<string, byte[]> ModelFiles(string marker) => new()
    {
        ["config.json"] = Encoding.UTF8.GetBytes($"{{\"marker\":\"{marker}\"}}"),
        ["model.safetensors"] = Encoding.UTF8.GetBytes("weights " + marker),
    };

    [Theory]
    [InlineData("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf", "main")]
    [InlineData("ehovy/race@refs/convert/parquet", "ehovy/race", "refs/convert/parquet")]
    [InlineData("org/name@0123456789abcdef0123456789abcdef01234567", "org/name", "0123456789abcdef0123456789abcdef01234567")]
    [InlineData("Org_1/name.v2-x@v1.0", "Org_1/name.v2-x", "v1.0")]
    public void A_repo_id_reads_as_org_slash_name_with_an_optional_revision(string text, string id, string revision)
    {
        HubRepoId.TryParse(text, out HubRepoId repo).Should().BeTrue();
        repo.Id.Should().Be(id);
        repo.Revision.Should().Be(revision);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("./org/name")]
    [InlineData("/models/llama")]
    [InlineData("~/models/llama")]
    [InlineData("org/name/extra")]
    [InlineData("org--x/name")]
    [InlineData("org/na..me")]
    [InlineData("org/name@")]
    [InlineData("C:\\models\\llama")]
    public void Paths_and_malformed_ids_are_not_repo_ids(string text)
    {
        HubRepoId.TryParse(text, out _).Should().BeFalse();
    }

    [Fact]
    public void The_cache_is_HF_HUB_CACHE_else_HF_HOME_hub_else_the_home_cache()
    {
        new HubOptions { Environment = Env(("HF_HUB_CACHE", "/a/hub"), ("HF_HOME", "/b"), ("HOME", "/h")) }.ResolveCacheDirectory().Should().Be("/a/hub");
        new HubOptions { Environment = Env(("HF_HOME", "/b"), ("HOME", "/h")) }.ResolveCacheDirectory().Should().Be(Path.Combine("/b", "hub"));
        new HubOptions { Environment = Env(("HOME", "/h")) }.ResolveCacheDirectory().Should().Be(Path.Combine("/h", ".cache", "huggingface", "hub"));
        new HubOptions { Environment = Env(("HOME", "/h"), ("XDG_CACHE_HOME", "/x")) }.ResolveCacheDirectory().Should().Be(Path.Combine("/x", "huggingface", "hub"));
        new HubOptions { Environment = Env(("HF_HUB_CACHE", "~/hf"), ("HOME", "/h")) }.ResolveCacheDirectory().Should().Be(Path.Combine("/h", "hf"));
        new HubOptions { CacheDirectory = "/explicit", Environment = Env(("HF_HUB_CACHE", "/a/hub")) }.ResolveCacheDirectory().Should().Be("/explicit");
        new HubOptions { Environment = Env(("HF_DATASETS_CACHE", "/d"), ("HF_HOME", "/b")) }.ResolveDatasetsCacheDirectory().Should().Be("/d");
        new HubOptions { Environment = Env(("HF_HOME", "/b")) }.ResolveDatasetsCacheDirectory().Should().Be(Path.Combine("/b", "datasets"));
    }

    [Fact]
    public void A_repo_id_resolves_through_refs_main_to_its_snapshot_whose_files_link_into_blobs()
    {
        var cache = new FakeHubCache(_dir.File("hub"));
        string commit = FakeHubCache.Commit("v1");
        string snapshot = cache.AddSnapshot("models", "org/tiny", commit, ModelFiles("v1"));

        string folder = HuggingFaceHub.ResolveModelFolder("org/tiny", new HubOptions { Environment = Env(("HF_HUB_CACHE", cache.Root)) });

        folder.Should().Be(snapshot);
        new FileInfo(Path.Combine(folder, "config.json")).LinkTarget.Should().StartWith(Path.Combine("..", "..", "blobs"));
        File.ReadAllText(Path.Combine(folder, "config.json")).Should().Contain("v1");
    }

    [Fact]
    public void A_revision_picks_its_ref_or_names_a_commit_directly()
    {
        var cache = new FakeHubCache(_dir.File("hub"));
        string main = cache.AddSnapshot("models", "org/tiny", FakeHubCache.Commit("main"), ModelFiles("main"));
        string tagged = cache.AddSnapshot("models", "org/tiny", FakeHubCache.Commit("v2"), ModelFiles("v2"), revision: "v2.0");
        string pinned = cache.AddSnapshot("models", "org/tiny", FakeHubCache.Commit("old"), ModelFiles("old"), revision: null);
        var options = new HubOptions { CacheDirectory = cache.Root };

        HuggingFaceHub.ResolveModelFolder("org/tiny", options).Should().Be(main);
        HuggingFaceHub.ResolveModelFolder("org/tiny@v2.0", options).Should().Be(tagged);
        HuggingFaceHub.ResolveModelFolder($"org/tiny@{FakeHubCache.Commit("old")}", options).Should().Be(pinned);
    }

    [Fact]
    public void An_existing_folder_wins_over_a_repo_id_of_the_same_spelling()
    {
        // "plwtest-<guid>/tiny" relative to the working directory has the shape of a repo id.
        string owner = "plwtest-" + Guid.NewGuid().ToString("N")[..8];
        string relative = owner + "/tiny";
        Directory.CreateDirectory(relative);
        try
        {
            HubRepoId.TryParse(relative, out _).Should().BeTrue();
            HuggingFaceHub.IsRepoId(relative).Should().BeFalse("an existing relative path is a path");
            HuggingFaceHub.ResolveModelFolder(relative, new HubOptions { CacheDirectory = _dir.File("hub") }).Should().Be(relative);
        }
        finally
        {
            Directory.Delete(owner, recursive: true);
        }
    }

    [Fact]
    public void A_miss_names_where_it_looked_and_the_download_command()
    {
        string hub = _dir.File("hub");
        var options = new HubOptions { Environment = Env(("HF_HUB_CACHE", hub)) };

        var load = () => HuggingFaceHub.ResolveModelFolder("meta-llama/Llama-2-7b-hf@v1", options);

        load.Should().Throw<HubException>()
            .WithMessage($"*'meta-llama/Llama-2-7b-hf@v1' is neither a folder nor a cached model*{Path.Combine(hub, "models--meta-llama--Llama-2-7b-hf")}*HF_HUB_CACHE={hub}*" +
                "`huggingface-cli download meta-llama/Llama-2-7b-hf --revision v1`*AllowDownload*");
    }

    [Fact]
    public void A_cached_snapshot_without_config_json_is_a_miss()
    {
        var cache = new FakeHubCache(_dir.File("hub"));
        cache.AddSnapshot("models", "org/tiny", FakeHubCache.Commit("x"), new() { ["README.md"] = "hi"u8.ToArray() });

        var load = () => HuggingFaceHub.ResolveModelFolder("org/tiny", new HubOptions { CacheDirectory = cache.Root });

        load.Should().Throw<HubException>().WithMessage("*has no config.json*huggingface-cli download org/tiny`*");
    }

    [Fact]
    public void HF_HUB_OFFLINE_turns_downloads_off_and_says_so()
    {
        var options = new HubOptions { CacheDirectory = _dir.File("hub"), AllowDownload = true, Environment = Env(("HF_HUB_OFFLINE", "1")) };

        options.DownloadsAllowed.Should().BeFalse();
        var load = () => HuggingFaceHub.ResolveModelFolder("org/tiny", options);
        load.Should().Throw<HubException>().WithMessage("*HF_HUB_OFFLINE is set*");
    }

    [Fact]
    public void The_datasets_arrow_cache_is_found_by_org_name_config_and_split_newest_folder_first()
    {
        string root = _dir.File("datasets");
        string older = Path.Combine(root, "ehovy___race", "all", "0.0.0", "aaaa");
        string newer = Path.Combine(root, "ehovy___race", "all", "0.0.0", "bbbb");
        Directory.CreateDirectory(older);
        Directory.CreateDirectory(newer);
        File.WriteAllText(Path.Combine(older, "race-train.arrow"), "old");
        File.SetLastWriteTimeUtc(Path.Combine(older, "race-train.arrow"), DateTime.UtcNow.AddDays(-1));
        foreach (string name in new[] { "race-train-00001-of-00002.arrow", "race-train-00000-of-00002.arrow", "race-validation.arrow", "race-trainer.arrow" })
            File.WriteAllText(Path.Combine(newer, name), "x");
        var options = new HubOptions { Environment = Env(("HF_DATASETS_CACHE", root)) };

        var train = HuggingFaceHub.FindDatasetsArrowFiles(HubRepoId.Parse("ehovy/race"), "all", "train", options);

        train.Select(Path.GetFileName).Should().Equal("race-train-00000-of-00002.arrow", "race-train-00001-of-00002.arrow");
        HuggingFaceHub.FindDatasetsArrowFiles(HubRepoId.Parse("ehovy/race"), "high", "train", options).Should().BeEmpty();
    }
}
