namespace PromptLossWeight.Logging;

/// <summary>
/// Writes scalars to a TensorBoard event file (<c>events.out.tfevents.&lt;unix-seconds&gt;.&lt;host&gt;</c>) without
/// Python or TensorFlow: TFRecord framing with masked CRC32C checksums around <c>Event</c> protobufs. Point
/// <c>tensorboard --logdir</c> at the folder (or its parent, to compare runs).
/// </summary>
/// <remarks>Writes are buffered; call <see cref="Flush"/> to make them visible to TensorBoard (and safe from a killed process).</remarks>
public sealed class TensorBoardWriter : IDisposable
{
    private FileStream? _stream;

    /// <summary>Creates <paramref name="directory"/> if needed and a new event file in it (never overwrites one).</summary>
    /// <param name="directory">The run folder; TensorBoard shows each folder as one run.</param>
    /// <exception cref="IOException">The folder or the file cannot be created; the message names the path.</exception>
    public TensorBoardWriter(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException("The TensorBoard directory must be a folder path.", nameof(directory));
        Directory = Path.GetFullPath(directory);
        double now = UnixNow();
        string host = string.Concat(Environment.MachineName.Select(c => Path.GetInvalidFileNameChars().Contains(c) ? '_' : c));
        string baseName = $"events.out.tfevents.{(long)Math.Floor(now)}.{host}";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            // Two writers started in the same second on the same host (e.g. a resumed run) get distinct files.
            for (int attempt = 0; _stream is null; attempt++)
            {
                string path = Path.Combine(Directory, attempt == 0 ? baseName : $"{baseName}.{attempt}");
                if (File.Exists(path)) continue;
                try { _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read); }
                catch (IOException) when (File.Exists(path)) { }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot create a TensorBoard event file in '{Directory}': {ex.Message}", ex);
        }
        FilePath = _stream.Name;
        TfRecord.Write(_stream, TensorBoardEvent.Header(now));
        Flush();
    }

    /// <summary>The full path of the run folder.</summary>
    public string Directory { get; }

    /// <summary>The full path of the event file this writer appends to.</summary>
    public string FilePath { get; }

    /// <summary>Appends one scalar.</summary>
    /// <param name="tag">The chart name; a slash groups charts (e.g. <c>eval/completion_loss</c>).</param>
    /// <param name="value">The value (stored as a 32-bit float, as TensorBoard's simple_value is).</param>
    /// <param name="step">The x-axis position (the optimizer step).</param>
    /// <param name="wallTime">Seconds since the Unix epoch; null: now.</param>
    public void AddScalar(string tag, double value, long step, double? wallTime = null) =>
        AddScalars(step, [new KeyValuePair<string, double>(tag, value)], wallTime);

    /// <summary>Appends several scalars of the same step as one event.</summary>
    /// <param name="step">The x-axis position (the optimizer step).</param>
    /// <param name="scalars">Tag and value pairs (values are stored as 32-bit floats); nothing is written when empty.</param>
    /// <param name="wallTime">Seconds since the Unix epoch; null: now.</param>
    public void AddScalars(long step, IEnumerable<KeyValuePair<string, double>> scalars, double? wallTime = null)
    {
        ArgumentNullException.ThrowIfNull(scalars);
        FileStream stream = _stream ?? throw new ObjectDisposedException(nameof(TensorBoardWriter), $"The event file '{FilePath}' is closed.");
        if (wallTime is double w && !double.IsFinite(w))
            throw new ArgumentOutOfRangeException(nameof(wallTime), w, "The wall time must be a finite number of seconds.");
        var values = new List<(string Tag, float Value)>();
        foreach (var (tag, value) in scalars)
        {
            if (string.IsNullOrWhiteSpace(tag))
                throw new ArgumentException($"A TensorBoard scalar needs a non-empty tag (step {step}).", nameof(scalars));
            values.Add((tag, (float)value));
        }
        if (values.Count == 0) return;
        TfRecord.Write(stream, TensorBoardEvent.Scalars(wallTime ?? UnixNow(), step, values));
    }

    /// <summary>Writes buffered events through to the disk.</summary>
    public void Flush() => _stream?.Flush(flushToDisk: true);

    /// <summary>Flushes and closes the event file.</summary>
    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        _stream = null;
    }

    private static double UnixNow() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).TotalSeconds;
}
