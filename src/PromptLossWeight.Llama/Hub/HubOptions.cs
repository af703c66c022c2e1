namespace PromptLossWeight.Llama.Hub;

/// <summary>
/// Where the Hugging Face caches are and whether the Hub may be reached. Every property left null falls back to the
/// environment variables the Python tools read, so .NET and Python share one cache.
/// </summary>
public sealed record HubOptions
{
    /// <summary>The Hub's public endpoint, used when neither <see cref="Endpoint"/> nor <c>HF_ENDPOINT</c> is set.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>
    /// The hub cache (the folder holding <c>models--org--name</c>); null: <c>HF_HUB_CACHE</c>, else
    /// <c>HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c> (<c>XDG_CACHE_HOME</c> replaces <c>~/.cache</c>).
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// The cache of the <c>datasets</c> library (Arrow files it wrote); null: <c>HF_DATASETS_CACHE</c>, else
    /// <c>HF_HOME/datasets</c>, else <c>~/.cache/huggingface/datasets</c>.
    /// </summary>
    public string? DatasetsCacheDirectory { get; init; }

    /// <summary>
    /// Download what the cache lacks from the Hub (into the hub cache, in the layout the Python tools use). Off by
    /// default: nothing reaches the network unless asked. <c>HF_HUB_OFFLINE=1</c> turns it off again.
    /// </summary>
    public bool AllowDownload { get; init; }

    /// <summary>The Hub's address; null: <c>HF_ENDPOINT</c>, else <see cref="DefaultEndpoint"/>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Access token for gated or private repositories; null: <c>HF_TOKEN</c> (or the legacy <c>HUGGING_FACE_HUB_TOKEN</c>).</summary>
    public string? Token { get; init; }

    /// <summary>Receives download progress (one report per file start, about every MiB, and at the end).</summary>
    public IProgress<HubDownloadProgress>? Progress { get; init; }

    /// <summary>Reads environment variables (replaceable in tests, which must not change the process environment).</summary>
    internal Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>The hub cache folder these options select.</summary>
    public string ResolveCacheDirectory() =>
        Expand(CacheDirectory ?? Env("HF_HUB_CACHE") ?? Env("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(HfHome(), "hub"));

    /// <summary>The <c>datasets</c> cache folder these options select.</summary>
    public string ResolveDatasetsCacheDirectory() =>
        Expand(DatasetsCacheDirectory ?? Env("HF_DATASETS_CACHE") ?? Path.Combine(HfHome(), "datasets"));

    /// <summary>The endpoint these options select, without a trailing slash.</summary>
    public string ResolveEndpoint() => (Endpoint ?? Env("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/');

    /// <summary>The token these options select, or null.</summary>
    public string? ResolveToken() => Token ?? Env("HF_TOKEN") ?? Env("HUGGING_FACE_HUB_TOKEN");

    /// <summary>True when downloads are allowed and <c>HF_HUB_OFFLINE</c> does not forbid them.</summary>
    public bool DownloadsAllowed => AllowDownload && !IsOffline;

    /// <summary>True when <c>HF_HUB_OFFLINE</c> is set to 1, true, yes or on.</summary>
    public bool IsOffline => Env("HF_HUB_OFFLINE")?.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on";

    /// <summary>The environment variables that chose the cache folders, for error messages ("HF_HUB_CACHE unset, ...").</summary>
    public string DescribeCacheSettings(bool datasets)
    {
        string[] names = datasets ? ["HF_DATASETS_CACHE", "HF_HOME"] : ["HF_HUB_CACHE", "HF_HOME"];
        return string.Join(", ", names.Select(n => Env(n) is string v ? $"{n}={v}" : $"{n} unset"));
    }

    private string HfHome() => Expand(Env("HF_HOME") ?? Path.Combine(Env("XDG_CACHE_HOME") ?? Path.Combine(Home(), ".cache"), "huggingface"));

    private string? Env(string name) => Environment(name) is { Length: > 0 } value ? value : null;

    private string Home() => Env("HOME") ?? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);

    private string Expand(string path) =>
        path == "~" ? Home() : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(Home(), path[2..]) : path;
}
