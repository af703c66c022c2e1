using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// The metric history of a run, written as <c>metrics.csv</c> and <c>metrics.jsonl</c> (atomically, after every
/// evaluation). Columns: step, epoch, plw, learning_rate, train_loss, then prompt_loss, completion_loss, full_loss,
/// completion_token_accuracy, accuracy, weighted_loss, weighted_loss_nonzero, then any other metric a subclass reports
/// (alphabetically).
/// </summary>
public static class MetricHistory
{
    /// <summary>File name of the CSV history.</summary>
    public const string CsvFileName = "metrics.csv";

    /// <summary>File name of the JSON Lines history.</summary>
    public const string JsonLinesFileName = "metrics.jsonl";

    private static readonly string[] FixedColumns = ["step", "epoch", "plw", "learning_rate", "train_loss"];

    private static readonly string[] DefaultMetricColumns =
        [MetricNames.PromptLoss, MetricNames.CompletionLoss, MetricNames.FullLoss, MetricNames.CompletionTokenAccuracy, MetricNames.Accuracy,
         MetricNames.WeightedLoss, MetricNames.WeightedLossNonZero];

    /// <summary>The metric columns for <paramref name="records"/>: the default seven, then any others alphabetically.</summary>
    public static IReadOnlyList<string> MetricColumns(IEnumerable<MetricRecord> records)
    {
        var extra = records.SelectMany(r => r.Metrics.Keys).Distinct(StringComparer.Ordinal)
            .Where(k => !DefaultMetricColumns.Contains(k, StringComparer.Ordinal)).Order(StringComparer.Ordinal);
        return DefaultMetricColumns.Concat(extra).ToList();
    }

    /// <summary>The CSV text (invariant culture, round-trip doubles, empty cell for NaN / missing).</summary>
    public static string ToCsv(IReadOnlyList<MetricRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var metricColumns = MetricColumns(records);
        var sb = new StringBuilder();
        sb.AppendJoin(',', FixedColumns.Concat(metricColumns)).Append('\n');
        foreach (MetricRecord r in records)
        {
            var cells = new List<string> { r.Step.ToString(CultureInfo.InvariantCulture), Cell(r.Epoch), Cell(r.PromptLossWeight), Cell(r.LearningRate), Cell(r.TrainLoss) };
            cells.AddRange(metricColumns.Select(c => Cell(r.Get(c))));
            sb.AppendJoin(',', cells).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The JSON Lines text: one object per record, NaN written as null.</summary>
    public static string ToJsonLines(IReadOnlyList<MetricRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var sb = new StringBuilder();
        foreach (MetricRecord r in records)
        {
            var o = new JsonObject
            {
                ["step"] = r.Step, ["epoch"] = Json(r.Epoch), ["plw"] = Json(r.PromptLossWeight),
                ["learning_rate"] = Json(r.LearningRate), ["train_loss"] = Json(r.TrainLoss),
            };
            foreach (var (name, value) in r.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal)) o[name] = Json(value);
            sb.Append(o.ToJsonString()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Reads records written by <see cref="ToJsonLines"/> (null read back as NaN).</summary>
    public static List<MetricRecord> FromJsonLines(string text, string source = "metric history")
    {
        var records = new List<MetricRecord>();
        int lineNumber = 0;
        foreach (string line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            try
            {
                var o = JsonNode.Parse(line)?.AsObject() ?? throw new FormatException("not a JSON object");
                double Read(string key) => o[key] is JsonNode n ? n.GetValue<double>() : double.NaN;
                long step = o["step"]?.GetValue<long>() ?? throw new FormatException("missing 'step'");
                var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
                foreach (var (key, node) in o)
                    if (!FixedColumns.Contains(key, StringComparer.Ordinal)) metrics[key] = node is null ? double.NaN : node.GetValue<double>();
                records.Add(new MetricRecord(step, Read("epoch"), Read("plw"), Read("learning_rate"), Read("train_loss"), metrics));
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
            {
                throw new InvalidDataException($"{source}, line {lineNumber}: {ex.Message}", ex);
            }
        }
        return records;
    }

    /// <summary>Writes <c>metrics.csv</c> and <c>metrics.jsonl</c> into <paramref name="directory"/>, each atomically.</summary>
    public static void Write(string directory, IReadOnlyList<MetricRecord> records)
    {
        Directory.CreateDirectory(directory);
        WriteAtomically(Path.Combine(directory, CsvFileName), ToCsv(records));
        WriteAtomically(Path.Combine(directory, JsonLinesFileName), ToJsonLines(records));
    }

    internal static void WriteAtomically(string path, string text)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            File.WriteAllText(temp, text, new UTF8Encoding(false));
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static string Cell(double v) => double.IsNaN(v) ? string.Empty : v.ToString("R", CultureInfo.InvariantCulture);

    private static JsonNode? Json(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
