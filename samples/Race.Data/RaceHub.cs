using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// RACE by Hugging Face dataset id (e.g. <c>ehovy/race</c>), from the local caches: first the hub cache's snapshot of the
/// dataset repository (Parquet files <c>{config}/{split}-*.parquet</c>), then the Arrow files <c>datasets.load_dataset</c>
/// wrote (<c>{org}___{name}/{config}/{version}/{hash}/{name}-{split}.arrow</c>); when neither holds the split and
/// downloads are allowed, the config's Parquet files are downloaded into the hub cache.
/// </summary>
internal static class RaceHub
{
    public static DataReadResult<RaceExample> Load(HubRepoId repo, RaceConfig config, RaceSplit split, DataReadOptions options, HubOptions hub)
    {
        string configName = config.ToString().ToLowerInvariant();
        string splitName = split.ToString().ToLowerInvariant();
        string? snapshot = HuggingFaceHub.FindCachedSnapshot(repo, HubRepoType.Dataset, hub);
        if (snapshot is not null && HasParquetSplit(snapshot, configName, splitName))
            return RaceDataset.Load(snapshot, config, split, options);

        IReadOnlyList<string> arrow = HuggingFaceHub.FindDatasetsArrowFiles(repo, configName, splitName, hub);
        if (arrow.Count > 0)
        {
            var records = new List<RaceExample>();
            var skipped = new List<SkippedRecord>();
            foreach (string file in arrow)
            {
                var result = RaceArrow.Read(file, options with { MaxRecords = options.MaxRecords - records.Count });
                records.AddRange(result.Records);
                skipped.AddRange(result.Skipped);
                if (options.MaxRecords is int max && records.Count >= max) break;
            }
            return new DataReadResult<RaceExample>(records, skipped);
        }

        if (hub.DownloadsAllowed)
        {
            string folder = HuggingFaceHub.ResolveDatasetFolder(repo.ToString(), hub,
                f => f.StartsWith(configName + "/", StringComparison.Ordinal) && f.EndsWith(".parquet", StringComparison.Ordinal));
            return RaceDataset.Load(folder, config, split, options);
        }

        string repoFolder = Path.Combine(hub.ResolveCacheDirectory(), $"datasets--{repo.Owner}--{repo.Name}");
        string arrowFolder = Path.Combine(hub.ResolveDatasetsCacheDirectory(), $"{repo.Owner}___{repo.Name}", configName);
        throw new HubException(
            $"'{repo}' is neither a folder nor a cached dataset with {configName}/{splitName}: looked for " +
            $"{snapshot ?? Path.Combine(repoFolder, "snapshots", $"<refs/{repo.Revision}>")}/{configName}/{splitName}-*.parquet " +
            $"({hub.DescribeCacheSettings(datasets: false)}) and {arrowFolder}/*/*/{repo.Name}-{splitName}*.arrow " +
            $"({hub.DescribeCacheSettings(datasets: true)}). Fill a cache with `{HuggingFaceHub.DownloadCommand(repo, HubRepoType.Dataset)}` " +
            $"or `python -c \"import datasets; datasets.load_dataset('{repo.Id}', '{configName}')\"`" +
            (hub.IsOffline ? " (HF_HUB_OFFLINE is set, so nothing is downloaded)." : ", or allow downloads (HubOptions.AllowDownload; --download in the samples)."));
    }

    private static bool HasParquetSplit(string snapshot, string config, string split)
    {
        string pattern = $"{split}-*.parquet";
        return (Directory.Exists(Path.Combine(snapshot, config)) && Directory.EnumerateFiles(Path.Combine(snapshot, config), pattern).Any())
            || Directory.EnumerateFiles(snapshot, pattern).Any();
    }
}
