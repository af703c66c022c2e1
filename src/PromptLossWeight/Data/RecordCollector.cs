using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Data;

/// <summary>Raised while parsing one record; the collector turns it into a skip or a <see cref="DataFormatException"/>.</summary>
internal sealed class RecordProblemException(string problem) : Exception(problem);

/// <summary>Collects the records of one file, applying the <see cref="BadRecordPolicy"/> and the record limit.</summary>
internal sealed class RecordCollector<T>(string source, DataReadOptions options)
{
    private readonly List<T> _records = [];
    private readonly List<SkippedRecord> _skipped = [];

    /// <summary>True once <see cref="DataReadOptions.MaxRecords"/> valid records have been read.</summary>
    public bool IsFull => options.MaxRecords is int max && _records.Count >= max;

    public int Count => _records.Count;

    /// <summary>Parses one record; a <see cref="RecordProblemException"/> becomes a skip or a DataFormatException.</summary>
    public void Add(string record, Func<IEnumerable<T>> parse)
    {
        IReadOnlyList<T> items;
        try
        {
            items = parse().ToList();
        }
        catch (RecordProblemException problem)
        {
            if (options.BadRecords == BadRecordPolicy.Throw)
                throw new DataFormatException(source, record, problem.Message);
            _skipped.Add(new SkippedRecord(source, record, problem.Message));
            options.Logger?.LogWarning("Skipped {Source}, {Record}: {Problem}", source, record, problem.Message);
            return;
        }
        foreach (T item in items)
        {
            if (IsFull) return;
            _records.Add(item);
        }
    }

    /// <summary>Records the problems of a record that was parsed as part of a larger unit (e.g. one question of a file).</summary>
    public void Skip(string record, string problem)
    {
        if (options.BadRecords == BadRecordPolicy.Throw)
            throw new DataFormatException(source, record, problem);
        _skipped.Add(new SkippedRecord(source, record, problem));
        options.Logger?.LogWarning("Skipped {Source}, {Record}: {Problem}", source, record, problem);
    }

    public DataReadResult<T> Result() => new(_records, _skipped);
}

/// <summary>Strict reading helpers shared by the readers.</summary>
internal static class StrictText
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

    /// <summary>Parses one JSON object; a syntax error (e.g. a truncated line) becomes a <see cref="RecordProblemException"/>.</summary>
    public static JsonDocument ParseObject(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new RecordProblemException($"invalid JSON ({e.Message})");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            JsonValueKind kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw new RecordProblemException($"expected a JSON object but found {kind}");
        }
        return doc;
    }

    /// <summary>A required, non-empty string field of a JSON object.</summary>
    public static string RequireString(JsonElement obj, string field, string? what = null)
    {
        if (!obj.TryGetProperty(field, out JsonElement value))
            throw new RecordProblemException($"missing field '{field}'");
        return RequireText(value, what ?? $"field '{field}'");
    }

    /// <summary>A JSON string value that must not be empty or white space.</summary>
    public static string RequireText(JsonElement value, string what)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw new RecordProblemException($"{what} must be a string but is {value.ValueKind}");
        string text = value.GetString()!;
        return RequireNonEmpty(text, what);
    }

    /// <summary>Throws a record problem when <paramref name="text"/> is null, empty or white space.</summary>
    public static string RequireNonEmpty(string? text, string what)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new RecordProblemException($"{what} is empty");
        return text;
    }
}
