using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Readers;

/// <summary>
/// Thrown by a record parser (inside <see cref="RecordCollector{T}.Add"/>) to say that one record is malformed; the
/// collector turns it into a skip or a <see cref="DataFormatException"/> naming the file and the record.
/// </summary>
public sealed class BadRecordException : Exception
{
    /// <summary>Creates the exception; <paramref name="problem"/> says what is wrong, in words.</summary>
    public BadRecordException(string problem) : base(problem) { }
}

/// <summary>
/// Thrown by a record parser for a well-formed record that has nothing to train on (a weight of 0 on every completion
/// token, from the example's or the messages' <c>weight</c>): the collector always skips it, counts it in
/// <see cref="DataReadResult{T}.Skipped"/> and logs a warning, whatever the <see cref="BadRecordPolicy"/>.
/// </summary>
public sealed class NothingToTrainException : Exception
{
    /// <summary>Creates the exception; <paramref name="reason"/> says why the record has nothing to train on.</summary>
    public NothingToTrainException(string reason) : base(reason) { }
}

/// <summary>
/// The skeleton every dataset reader shares: it collects the records of one file, applying the
/// <see cref="BadRecordPolicy"/> and <see cref="DataReadOptions.MaxRecords"/>. A reader walks its file, names each
/// record ("line 7", "row 3", …) and hands <see cref="Add"/> a parser that throws <see cref="BadRecordException"/>
/// for a malformed record. <see cref="RecordReader"/> runs this loop for JSON Lines and Parquet files.
/// </summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="source">The file (or stream name) being read, for messages.</param>
/// <param name="options">The policy and the record limit.</param>
public sealed class RecordCollector<T>(string source, DataReadOptions options)
{
    private readonly List<T> _records = [];
    private readonly List<SkippedRecord> _skipped = [];

    /// <summary>True once <see cref="DataReadOptions.MaxRecords"/> valid records have been read.</summary>
    public bool IsFull => options.MaxRecords is int max && _records.Count >= max;

    /// <summary>Valid records collected so far.</summary>
    public int Count => _records.Count;

    /// <summary>Parses one record; a <see cref="BadRecordException"/> becomes a skip or a <see cref="DataFormatException"/>.</summary>
    /// <param name="record">Where the record is ("line 7", "row 3", …).</param>
    /// <param name="parse">Parses the record into zero or more items.</param>
    public void Add(string record, Func<IEnumerable<T>> parse)
    {
        IReadOnlyList<T> items;
        try
        {
            items = parse().ToList();
        }
        catch (BadRecordException problem)
        {
            if (options.BadRecords == BadRecordPolicy.Throw)
                throw new DataFormatException(source, record, problem.Message);
            _skipped.Add(new SkippedRecord(source, record, problem.Message));
            options.Logger?.LogWarning("Skipped {Source}, {Record}: {Problem}", source, record, problem.Message);
            return;
        }
        catch (NothingToTrainException nothing)
        {
            _skipped.Add(new SkippedRecord(source, record, nothing.Message));
            options.Logger?.LogWarning("Skipped {Source}, {Record}: {Problem}", source, record, nothing.Message);
            return;
        }
        foreach (T item in items)
        {
            if (IsFull) return;
            _records.Add(item);
        }
    }

    /// <summary>Reports a bad record found outside <see cref="Add"/>: a skip or a <see cref="DataFormatException"/>, as the policy says.</summary>
    public void Skip(string record, string problem)
    {
        if (options.BadRecords == BadRecordPolicy.Throw)
            throw new DataFormatException(source, record, problem);
        _skipped.Add(new SkippedRecord(source, record, problem));
        options.Logger?.LogWarning("Skipped {Source}, {Record}: {Problem}", source, record, problem);
    }

    /// <summary>The records and skips collected.</summary>
    public DataReadResult<T> Result() => new(_records, _skipped);
}

/// <summary>
/// Strict reading helpers shared by the readers: files that fail to open or hold invalid UTF-8 become a
/// <see cref="DataFormatException"/>; a missing or empty field becomes a <see cref="BadRecordException"/>.
/// </summary>
public static class StrictText
{
    /// <summary>UTF-8 that throws on invalid bytes instead of inserting U+FFFD.</summary>
    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Opens a file for reading; I/O failures become a <see cref="DataFormatException"/> naming the file.</summary>
    public static FileStream Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new DataFormatException(path, null, $"cannot be opened ({e.Message})", e);
        }
    }

    /// <summary>
    /// Reads lines ('\n' or "\r\n" separated) and decodes each with strict UTF-8, yielding (1-based line number, text),
    /// so invalid UTF-8 is reported on the line where it occurs. A leading BOM is dropped.
    /// </summary>
    public static IEnumerable<(int Line, string Text)> Lines(Stream stream, string source)
    {
        var buffer = new byte[1 << 16];
        var line = new MemoryStream();
        int number = 0;
        while (true)
        {
            int read;
            try
            {
                read = stream.Read(buffer, 0, buffer.Length);
            }
            catch (IOException e)
            {
                throw new DataFormatException(source, $"line {number + 1}", $"cannot be read ({e.Message})", e);
            }
            if (read == 0) break;
            int start = 0;
            for (int i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                line.Write(buffer, start, i - start);
                start = i + 1;
                yield return (++number, Decode(line, source, number));
                line.SetLength(0);
            }
            line.Write(buffer, start, read - start);
        }
        if (line.Length > 0) yield return (++number, Decode(line, source, number));
    }

    private static string Decode(MemoryStream bytes, string source, int number)
    {
        ReadOnlySpan<byte> span = bytes.GetBuffer().AsSpan(0, (int)bytes.Length);
        if (number == 1 && span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        if (span.Length > 0 && span[^1] == (byte)'\r') span = span[..^1];
        try
        {
            return Utf8.GetString(span);
        }
        catch (DecoderFallbackException e)
        {
            throw new DataFormatException(source, $"line {number}", "the text is not valid UTF-8", e);
        }
    }

    /// <summary>Reads a whole stream as strict UTF-8 text (a leading BOM is dropped).</summary>
    public static string ReadAll(Stream stream, string source)
    {
        try
        {
            using var reader = new StreamReader(stream, Utf8, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16, leaveOpen: true);
            string text = reader.ReadToEnd();
            return text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text;
        }
        catch (DecoderFallbackException e)
        {
            throw new DataFormatException(source, null, "the text is not valid UTF-8", e);
        }
        catch (IOException e)
        {
            throw new DataFormatException(source, null, $"cannot be read ({e.Message})", e);
        }
    }

    /// <summary>Parses one JSON object; a syntax error (e.g. a truncated line) becomes a <see cref="BadRecordException"/>.</summary>
    public static JsonDocument ParseObject(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new BadRecordException($"invalid JSON ({e.Message})");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            JsonValueKind kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw new BadRecordException($"expected a JSON object but found {kind}");
        }
        return doc;
    }

    /// <summary>A required, non-empty string field of a JSON object.</summary>
    public static string RequireString(JsonElement obj, string field, string? what = null)
    {
        if (!obj.TryGetProperty(field, out JsonElement value))
            throw new BadRecordException($"missing field '{field}'");
        return RequireText(value, what ?? $"field '{field}'");
    }

    /// <summary>A JSON string value that must not be empty or white space.</summary>
    public static string RequireText(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw new BadRecordException($"{what} must be a string but is {value.ValueKind}");
        string text = value.GetString()!;
        return RequireNonEmpty(text, what);
    }

    /// <summary>Throws a record problem when <paramref name="text"/> is null, empty or white space.</summary>
    public static string RequireNonEmpty(string? text, string what)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new BadRecordException($"{what} is empty");
        return text;
    }

    /// <summary>
    /// An optional loss weight field of a JSON object: 1 when absent; otherwise it must be a JSON number, finite and ≥ 0
    /// (negative weights are rejected), or the record is bad. <paramref name="where"/> prefixes the message (e.g. "message 2").
    /// </summary>
    public static double OptionalWeight(JsonElement obj, string field, string? where = null)
    {
        if (!obj.TryGetProperty(field, out JsonElement value))
            return 1.0;
        return Weight(value, where is null ? $"field '{field}'" : $"{where}: field '{field}'");
    }

    /// <summary>A JSON value that must be a loss weight: a number, finite and ≥ 0.</summary>
    public static double Weight(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.Number)
            throw new BadRecordException($"{what} must be a number but is {value.ValueKind}");
        if (!value.TryGetDouble(out double weight) || !Masking.RoleWeights.IsValid(weight))
            throw new BadRecordException($"{what} must be {Masking.RoleWeights.Requirement} but is {value.GetRawText()}");
        return weight;
    }

    /// <summary>A required JSON array of strings (elements may be empty; the caller checks them).</summary>
    public static IReadOnlyList<string?> RequireStringArray(JsonElement obj, string field)
    {
        if (!obj.TryGetProperty(field, out JsonElement value))
            throw new BadRecordException($"missing field '{field}'");
        return StringArray(value, $"field '{field}'");
    }

    /// <summary>A JSON array of strings; <paramref name="what"/> names it in the message.</summary>
    public static IReadOnlyList<string?> StringArray(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new BadRecordException($"{what} must be an array but is {value.ValueKind}");
        var list = new List<string?>();
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw new BadRecordException($"{what} must hold strings but holds {item.ValueKind}");
            list.Add(item.GetString());
        }
        return list;
    }
}

/// <summary>
/// The reading loops of the built-in readers, for readers of your own: one record per JSON Lines line or Parquet row,
/// with strict UTF-8, the <see cref="BadRecordPolicy"/>, <see cref="DataReadOptions.MaxRecords"/> and messages that name
/// the file and the record.
/// </summary>
public static class RecordReader
{
    /// <summary>
    /// Reads JSON Lines from <paramref name="stream"/>: blank lines are ignored, every other line must be a JSON object
    /// that <paramref name="parse"/> turns into records (throwing <see cref="BadRecordException"/> when it is malformed).
    /// </summary>
    /// <param name="stream">The text.</param>
    /// <param name="source">Names the stream in messages.</param>
    /// <param name="options">Policy and record limit; null for the defaults.</param>
    /// <param name="parse">From the line's object and its 1-based line number to the records it holds.</param>
    public static DataReadResult<T> JsonLines<T>(Stream stream, string source, DataReadOptions? options, Func<JsonElement, int, IEnumerable<T>> parse)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(parse);
        options = (options ?? new DataReadOptions()).Validate();
        var collector = new RecordCollector<T>(source, options);
        foreach ((int line, string text) in StrictText.Lines(stream, source))
        {
            if (collector.IsFull) break;
            if (string.IsNullOrWhiteSpace(text)) continue;
            collector.Add($"line {line}", () =>
            {
                using JsonDocument doc = StrictText.ParseObject(text);
                return parse(doc.RootElement, line).ToList();
            });
        }
        return collector.Result();
    }

    /// <summary>
    /// Reads a Parquet file from <paramref name="stream"/> after checking that it has <paramref name="columns"/>; each
    /// row becomes records through <paramref name="parse"/> (use <see cref="ParquetRows"/> to read its cells).
    /// </summary>
    /// <param name="stream">The file (copied into memory when not seekable).</param>
    /// <param name="source">Names the stream in messages.</param>
    /// <param name="columns">The columns every row needs.</param>
    /// <param name="options">Policy and record limit; null for the defaults.</param>
    /// <param name="parse">From the row's cells to the records it holds.</param>
    public static DataReadResult<T> Parquet<T>(Stream stream, string source, IReadOnlyList<string> columns, DataReadOptions? options,
        Func<Dictionary<string, object>, IEnumerable<T>> parse)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(parse);
        options = (options ?? new DataReadOptions()).Validate();
        var rows = ParquetRows.Read(stream, source, columns);
        var collector = new RecordCollector<T>(source, options);
        for (int i = 0; i < rows.Count && !collector.IsFull; i++)
        {
            var row = rows[i];
            collector.Add($"row {i + 1}", () => parse(row));
        }
        return collector.Result();
    }
}
