using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>The on-disk formats RACE is read from.</summary>
public enum RaceFormat
{
    /// <summary>Parquet files of the Hugging Face dataset.</summary>
    Parquet,
    /// <summary>JSON Lines of the flat Hugging Face shape.</summary>
    JsonLines,
    /// <summary>The original release's folders (train|dev|test/high|middle/*.txt) or one of its files.</summary>
    OriginalRelease,
}

/// <summary>
/// Loads RACE from any of its three formats, picking the reader from the path:
/// <list type="bullet">
/// <item>a folder with train/dev/test subfolders: the original release (config and split choose the subfolders);</item>
/// <item>any other folder: Hugging Face Parquet files <c>{config}/{split}-*.parquet</c> or <c>{split}-*.parquet</c>;</item>
/// <item>a Hugging Face dataset id such as <c>ehovy/race</c> (not an existing path): the cached dataset repository's
/// Parquet files or the Arrow files of the <c>datasets</c> cache (see <see cref="HuggingFaceHub"/>; downloaded when
/// the <c>hub</c> options allow it);</item>
/// <item>a <c>.parquet</c> file, a <c>.jsonl</c>/<c>.json</c>/<c>.ndjson</c> file or a release <c>.txt</c> file: that file.
/// Other extensions are sniffed (Parquet files start with "PAR1", anything else is read as JSON Lines).</item>
/// </list>
/// A single file holds one split. For a single file or a Parquet folder without config subfolders, a config other
/// than <see cref="RaceConfig.All"/> keeps the examples whose id starts with "high" or "middle" (RACE ids are the
/// release's file names, such as "high1234.txt").
/// </summary>
public static class RaceDataset
{
    /// <summary>Loads the examples of <paramref name="config"/> and <paramref name="split"/> from <paramref name="path"/>.</summary>
    /// <param name="path">A folder, a file or a Hugging Face dataset id ("org/name[@revision]").</param>
    /// <param name="config">The RACE config.</param>
    /// <param name="split">The split.</param>
    /// <param name="options">Bad-record policy and record limit.</param>
    /// <param name="hub">Where the Hugging Face caches are and whether to download (for a dataset id); null: the defaults.</param>
    public static DataReadResult<RaceExample> Load(string path, RaceConfig config = RaceConfig.All, RaceSplit split = RaceSplit.Train, DataReadOptions? options = null, HubOptions? hub = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options = (options ?? new DataReadOptions()).Validate();
        if (!Directory.Exists(path) && !File.Exists(path) && HubRepoId.TryParse(path, out HubRepoId repo))
            return RaceHub.Load(repo, config, split, options, hub ?? new HubOptions());
        if (Directory.Exists(path))
        {
            if (RaceOriginalRelease.IsReleaseFolder(path))
                return RaceOriginalRelease.Read(path, config, split, options);
            return LoadParquetFolder(path, config, split, options);
        }
        if (!File.Exists(path))
            throw new DataFormatException(path, null, "does not exist (expected a RACE folder, .parquet, .jsonl or release .txt file)");
        return FilterConfig(LoadFile(path, DetectFormat(path), config == RaceConfig.All ? options : options with { MaxRecords = null }), config, options);
    }

    /// <summary>The format of a single file, from its extension or its first bytes.</summary>
    public static RaceFormat DetectFormat(string file)
    {
        switch (Path.GetExtension(file).ToLowerInvariant())
        {
            case ".parquet": return RaceFormat.Parquet;
            case ".jsonl" or ".json" or ".ndjson": return RaceFormat.JsonLines;
            case ".txt": return RaceFormat.OriginalRelease;
        }
        using FileStream stream = StrictText.Open(file);
        Span<byte> magic = stackalloc byte[4];
        int read = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        return read == 4 && magic.SequenceEqual("PAR1"u8) ? RaceFormat.Parquet : RaceFormat.JsonLines;
    }

    private static DataReadResult<RaceExample> LoadFile(string file, RaceFormat format, DataReadOptions options)
    {
        switch (format)
        {
            case RaceFormat.Parquet:
                return RaceParquet.Read(file, options);
            case RaceFormat.JsonLines:
                return RaceJsonLines.Read(file, options);
            default:
                using (FileStream stream = StrictText.Open(file))
                    return RaceOriginalRelease.ReadFile(stream, file, options);
        }
    }

    private static DataReadResult<RaceExample> LoadParquetFolder(string folder, RaceConfig config, RaceSplit split, DataReadOptions options)
    {
        string configName = config.ToString().ToLowerInvariant();
        string pattern = $"{split.ToString().ToLowerInvariant()}-*.parquet";
        string configFolder = Path.Combine(folder, configName);
        bool byConfig = Directory.Exists(configFolder) && Files(configFolder, pattern).Length > 0;
        string[] files = Files(byConfig ? configFolder : folder, pattern).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
            throw new DataFormatException(folder, null,
                $"holds no RACE data: expected train|dev|test folders (original release) or {configName}/{pattern} or {pattern} (Parquet)");
        var records = new List<RaceExample>();
        var skipped = new List<SkippedRecord>();
        foreach (string file in files)
        {
            var result = RaceParquet.Read(file, options with { MaxRecords = null });
            if (!byConfig) result = FilterConfig(result, config, options with { MaxRecords = null });
            records.AddRange(result.Records);
            skipped.AddRange(result.Skipped);
            if (options.MaxRecords is int max && records.Count >= max) break;
        }
        if (options.MaxRecords is int limit && records.Count > limit) records.RemoveRange(limit, records.Count - limit);
        return new DataReadResult<RaceExample>(records, skipped);
    }

    /// <summary>The files of <paramref name="folder"/> matching <paramref name="pattern"/>; an unreadable folder is a <see cref="DataFormatException"/> naming it.</summary>
    private static string[] Files(string folder, string pattern)
    {
        try
        {
            return Directory.GetFiles(folder, pattern);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(folder, null, $"cannot be read ({e.Message})", e);
        }
    }

    private static DataReadResult<RaceExample> FilterConfig(DataReadResult<RaceExample> result, RaceConfig config, DataReadOptions options)
    {
        IEnumerable<RaceExample> kept = config switch
        {
            RaceConfig.All => result.Records,
            _ => result.Records.Where(e => e.ExampleId.StartsWith(config.ToString(), StringComparison.OrdinalIgnoreCase)),
        };
        if (options.MaxRecords is int max) kept = kept.Take(max);
        return new DataReadResult<RaceExample>(kept.ToList(), result.Skipped);
    }
}
