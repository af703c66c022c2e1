using System.Text.Json;

using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// Reads the original RACE release: folders <c>train|dev|test/high|middle/*.txt</c>, each file one JSON object
/// <c>{"article": "...", "questions": [...], "options": [[4 strings], ...], "answers": ["A", ...], "id": "high1.txt"}</c>
/// that yields one <see cref="RaceExample"/> per question (all with the file's id, as in the Hugging Face dataset).
/// </summary>
/// <remarks>
/// A file that is not valid UTF-8 or not a JSON object, lacks a field or whose questions/options/answers arrays differ
/// in length is one bad record ("the whole file"); a question with an empty text, a number of options other than four
/// or an answer outside A–D is a bad record named "question N" (1-based). Files are read in ordinal name order.
/// </remarks>
public static class RaceOriginalRelease
{
    /// <summary>The folder name of a split in the original release.</summary>
    public static string FolderName(RaceSplit split) => split switch
    {
        RaceSplit.Train => "train",
        RaceSplit.Validation => "dev",
        RaceSplit.Test => "test",
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, "Unknown RACE split."),
    };

    /// <summary>True when <paramref name="root"/> looks like the original release (has a train, dev or test folder).</summary>
    public static bool IsReleaseFolder(string root) =>
        Directory.Exists(root) && new[] { "train", "dev", "test" }.Any(s => Directory.Exists(Path.Combine(root, s)));

    /// <summary>Reads one split and configuration from the release folder <paramref name="root"/>.</summary>
    public static DataReadResult<RaceExample> Read(string root, RaceConfig config = RaceConfig.All, RaceSplit split = RaceSplit.Train, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        options = (options ?? new DataReadOptions()).Validate();
        string splitDir = Path.Combine(root, FolderName(split));
        if (!Directory.Exists(splitDir))
            throw new DataFormatException(root, null, $"has no '{FolderName(split)}' folder: expected the original RACE layout train|dev|test/high|middle/*.txt");
        string[] levels = config switch
        {
            RaceConfig.All => ["high", "middle"],
            RaceConfig.High => ["high"],
            RaceConfig.Middle => ["middle"],
            _ => throw new ArgumentOutOfRangeException(nameof(config), config, "Unknown RACE config."),
        };
        var files = levels.Select(l => Path.Combine(splitDir, l)).Where(Directory.Exists)
            .SelectMany(d => TextFiles(d).Order(StringComparer.Ordinal)).ToList();
        if (files.Count == 0)
            throw new DataFormatException(splitDir, null, $"has no *.txt files in {string.Join(" or ", levels)}/");
        var records = new List<RaceExample>();
        var skipped = new List<SkippedRecord>();
        foreach (string file in files)
        {
            int? left = options.MaxRecords - records.Count;
            if (left <= 0) break;
            using FileStream stream = StrictText.Open(file);
            var result = ReadFile(stream, file, options with { MaxRecords = left });
            records.AddRange(result.Records);
            skipped.AddRange(result.Skipped);
        }
        return new DataReadResult<RaceExample>(records, skipped);
    }

    /// <summary>The *.txt files of <paramref name="folder"/>; an unreadable folder is a <see cref="DataFormatException"/> naming it.</summary>
    private static string[] TextFiles(string folder)
    {
        try
        {
            return Directory.GetFiles(folder, "*.txt");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException(folder, null, $"cannot be read ({e.Message})", e);
        }
    }

    /// <summary>Parses one release file (all its questions) from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<RaceExample> ReadFile(Stream stream, string source, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        options = (options ?? new DataReadOptions()).Validate();
        var collector = new RecordCollector<RaceExample>(source, options);
        string text = StrictText.ReadAll(stream, source);
        List<(string Id, string Article, string Question, IReadOnlyList<string?> Options, string Answer)> questions = [];
        collector.Add("the whole file", () =>
        {
            using JsonDocument doc = StrictText.ParseObject(text);
            JsonElement root = doc.RootElement;
            string article = StrictText.RequireString(root, "article");
            string id = root.TryGetProperty("id", out JsonElement idValue) && idValue.ValueKind == JsonValueKind.String
                ? idValue.GetString()! : Path.GetFileName(source);
            var qs = StrictText.RequireStringArray(root, "questions");
            var answers = StrictText.RequireStringArray(root, "answers");
            if (!root.TryGetProperty("options", out JsonElement opts))
                throw new BadRecordException("missing field 'options'");
            if (opts.ValueKind != JsonValueKind.Array)
                throw new BadRecordException($"field 'options' must be an array of arrays but is {opts.ValueKind}");
            var options = opts.EnumerateArray().Select((o, i) => StrictText.StringArray(o, $"options of question {i + 1}")).ToList();
            if (qs.Count != options.Count || qs.Count != answers.Count)
                throw new BadRecordException(
                    $"the arrays differ in length: {qs.Count} questions, {options.Count} option lists, {answers.Count} answers");
            if (qs.Count == 0)
                throw new BadRecordException("the file has no questions");
            for (int i = 0; i < qs.Count; i++)
                questions.Add((id, article, qs[i] ?? "", options[i], answers[i] ?? ""));
            return Array.Empty<RaceExample>();
        });
        for (int i = 0; i < questions.Count && !collector.IsFull; i++)
        {
            var q = questions[i];
            collector.Add($"question {i + 1}", () => [RaceExample.Create(q.Id, q.Article, q.Question, q.Options, q.Answer)]);
        }
        return collector.Result();
    }
}
