using System.Text.RegularExpressions;

namespace PromptLossWeight.Llama.Hub;

/// <summary>
/// Finds models and datasets by Hugging Face repo id ("org/name", optionally "@revision") in the local caches the
/// Python tools fill (<c>huggingface-cli download</c>, <c>from_pretrained</c>, <c>datasets.load_dataset</c>), and, when
/// <see cref="HubOptions.AllowDownload"/> is set, downloads what is missing from the Hub into the same cache.
/// </summary>
/// <remarks>
/// Anything that is an existing path is a path: <c>ResolveModelFolder("~/models/llama")</c> never looks at the cache.
/// A text that is not a path and has the form "org/name[@revision]" is a repo id.
/// </remarks>
public static partial class HuggingFaceHub
{
    /// <summary>
    /// The files of a model repository a checkpoint needs, at the top level only: config, generation config, tokenizer
    /// files (tokenizer.model, tokenizer*.json, special tokens, chat template, vocab.txt/vocab.json/merges.txt), safetensors
    /// and their index. Other weights (pytorch_model.bin, original/*.pth) and documents are left out.
    /// </summary>
    public static bool IsModelFile(string file) =>
        !file.Contains('/') && (file is "config.json" or "generation_config.json" or "tokenizer.model" or "special_tokens_map.json"
            or "added_tokens.json" or "chat_template.jinja" or "chat_template.json" or "model.safetensors.index.json"
            or "vocab.txt" or "vocab.json" or "merges.txt"
            || (file.StartsWith("tokenizer", StringComparison.Ordinal) && file.EndsWith(".json", StringComparison.Ordinal))
            || file.EndsWith(".safetensors", StringComparison.Ordinal));

    /// <summary>True when <paramref name="text"/> is not an existing file or folder and has the form of a repo id.</summary>
    public static bool IsRepoId(string? text) =>
        text is not null && !Directory.Exists(text) && !File.Exists(text) && HubRepoId.TryParse(text, out _);

    /// <summary>
    /// The folder of a model: <paramref name="folderOrRepoId"/> itself when it is an existing folder (or anything that is
    /// not a repo id, so the loader reports it); otherwise the cached snapshot of the repo id (<c>models--org--name</c>),
    /// downloaded first when it is not cached and <see cref="HubOptions.AllowDownload"/> is set.
    /// </summary>
    /// <exception cref="HubException">The model is not cached (and may not or could not be downloaded); the message lists
    /// where the cache was looked for and the <c>huggingface-cli download</c> command that fills it.</exception>
    public static string ResolveModelFolder(string folderOrRepoId, HubOptions? options = null) =>
        Resolve(folderOrRepoId, HubRepoType.Model, IsModelFile, requiredFile: "config.json", options);

    /// <summary>
    /// The folder of a dataset repository snapshot (<c>datasets--org--name</c>), as <see cref="ResolveModelFolder"/> does
    /// for models. A download fetches the files <paramref name="wantedFiles"/> selects (default: every Parquet file).
    /// </summary>
    /// <exception cref="HubException">The dataset is not cached and may not or could not be downloaded.</exception>
    public static string ResolveDatasetFolder(string folderOrRepoId, HubOptions? options = null, Func<string, bool>? wantedFiles = null) =>
        Resolve(folderOrRepoId, HubRepoType.Dataset, wantedFiles ?? (f => f.EndsWith(".parquet", StringComparison.Ordinal)), requiredFile: null, options);

    /// <summary>The cached snapshot folder of <paramref name="repo"/>, or null when the cache does not hold its revision.</summary>
    public static string? FindCachedSnapshot(HubRepoId repo, HubRepoType type, HubOptions? options = null)
    {
        options ??= new HubOptions();
        return HubCache.FindSnapshot(HubCache.RepoFolder(options.ResolveCacheDirectory(), repo, type), repo.Revision);
    }

    /// <summary>
    /// The Arrow files the <c>datasets</c> library wrote for one split of a dataset, in shard order:
    /// <c>{datasets cache}/{org}___{name}/{config}/{version}/{hash}/{name}-{split}.arrow</c> (or
    /// <c>{name}-{split}-00000-of-00002.arrow</c>, … for a sharded split). When several versions or hashes hold the split,
    /// the most recently written folder wins. Empty when the cache holds none.
    /// </summary>
    public static IReadOnlyList<string> FindDatasetsArrowFiles(HubRepoId repo, string config, string split, HubOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(config);
        ArgumentException.ThrowIfNullOrWhiteSpace(split);
        options ??= new HubOptions();
        string configFolder = Path.Combine(options.ResolveDatasetsCacheDirectory(), $"{repo.Owner}___{repo.Name}", config);
        if (!Directory.Exists(configFolder)) return [];
        var pattern = new Regex($"^{Regex.Escape(repo.Name)}-{Regex.Escape(split)}(-[0-9]{{5}}-of-[0-9]{{5}})?\\.arrow$");
        var candidates =
            from version in Directory.EnumerateDirectories(configFolder)
            from hash in Directory.EnumerateDirectories(version)
            let files = Directory.EnumerateFiles(hash, "*.arrow").Where(f => pattern.IsMatch(Path.GetFileName(f))).Order(StringComparer.Ordinal).ToArray()
            where files.Length > 0
            orderby files.Max(File.GetLastWriteTimeUtc) descending
            select files;
        return candidates.FirstOrDefault() ?? [];
    }

    /// <summary>The command that fills the cache with <paramref name="repo"/>, for error messages.</summary>
    public static string DownloadCommand(HubRepoId repo, HubRepoType type) =>
        $"huggingface-cli download {repo.Id}" + (type == HubRepoType.Dataset ? " --repo-type dataset" : "") +
        (repo.Revision == HubRepoId.DefaultRevision ? "" : $" --revision {repo.Revision}");

    private static string Resolve(string folderOrRepoId, HubRepoType type, Func<string, bool> wanted, string? requiredFile, HubOptions? options)
    {
        ArgumentNullException.ThrowIfNull(folderOrRepoId);
        if (Directory.Exists(folderOrRepoId) || File.Exists(folderOrRepoId) || !HubRepoId.TryParse(folderOrRepoId, out HubRepoId repo))
            return folderOrRepoId;
        options ??= new HubOptions();
        string cache = options.ResolveCacheDirectory();
        string repoFolder = HubCache.RepoFolder(cache, repo, type);
        string? snapshot = HubCache.FindSnapshot(repoFolder, repo.Revision);
        if (snapshot is not null && (requiredFile is null || HubCache.HasFile(snapshot, requiredFile)))
            return snapshot;
        if (options.DownloadsAllowed)
        {
            using var downloader = new HubDownloader(options);
            return downloader.DownloadAsync(cache, repo, type, wanted, CancellationToken.None).GetAwaiter().GetResult();
        }
        throw new HubException(MissMessage(folderOrRepoId, repo, type, repoFolder, snapshot, requiredFile, options));
    }

    internal static string MissMessage(string text, HubRepoId repo, HubRepoType type, string repoFolder, string? snapshot, string? requiredFile, HubOptions options)
    {
        string found = snapshot is not null
            ? $"the snapshot {snapshot} has no {requiredFile}"
            : Directory.Exists(repoFolder)
                ? $"{HubCache.RefFile(repoFolder, repo.Revision)} or its snapshot is missing"
                : $"{repoFolder} does not exist";
        string download = options.IsOffline ? "HF_HUB_OFFLINE is set, so nothing is downloaded" : "or allow downloads (HubOptions.AllowDownload; --download in the samples)";
        return $"'{text}' is neither a folder nor a cached {(type == HubRepoType.Model ? "model" : "dataset")}: {found} " +
            $"(hub cache {options.ResolveCacheDirectory()}; {options.DescribeCacheSettings(datasets: false)}). " +
            $"Fill the cache with `{DownloadCommand(repo, type)}`, {download}.";
    }
}
