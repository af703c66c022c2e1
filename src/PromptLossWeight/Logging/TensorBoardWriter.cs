using static TorchSharp.torch.utils.tensorboard;

namespace PromptLossWeight.Logging;

/// <summary>
/// Writes scalars to a TensorBoard event file through TorchSharp's <c>torch.utils.tensorboard.SummaryWriter</c>
/// (<c>events.out.tfevents.&lt;ticks&gt;.&lt;host&gt;.&lt;pid&gt;.&lt;n&gt;.&lt;id&gt;</c>). Every scalar reaches the disk
/// when it is added. Point <c>tensorboard --logdir</c> at the folder (or its parent, to compare runs).
/// </summary>
/// <remarks>
/// What TorchSharp 0.107's writer records, and so this one: wall times in whole Unix seconds (<c>long</c>); the first
/// record's (file_version) wall time in .NET ticks rather than seconds (TensorBoard's charts use the scalars' own wall
/// times); steps up to <see cref="int.MaxValue"/>; one event per scalar.
/// </remarks>
public sealed class TensorBoardWriter : IDisposable
{
    private TorchSharp.Modules.SummaryWriter? _writer;

    /// <summary>Creates <paramref name="directory"/> if needed and a new event file in it (never overwrites one).</summary>
    /// <param name="directory">The run folder; TensorBoard shows each folder as one run.</param>
    /// <exception cref="IOException">The folder or the file cannot be created; the message names the path.</exception>
    public TensorBoardWriter(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException("The TensorBoard directory must be a folder path.", nameof(directory));
        Directory = Path.GetFullPath(directory);
        // TorchSharp names files by time, host and process, and deletes a file of the same name: a unique suffix keeps
        // two writers started at the same moment (e.g. a resumed run) apart and tells this writer which file is its own.
        string suffix = Guid.NewGuid().ToString("N")[..12];
        try
        {
            _writer = SummaryWriter(Directory, filename_suffix: suffix);
            FilePath = System.IO.Directory.GetFiles(Directory, "events.out.tfevents.*." + suffix).Single();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new IOException($"Cannot create a TensorBoard event file in '{Directory}': {ex.Message}", ex);
        }
    }

    /// <summary>The full path of the run folder.</summary>
    public string Directory { get; }

    /// <summary>The full path of the event file this writer appends to.</summary>
    public string FilePath { get; }

    /// <summary>Appends one scalar.</summary>
    /// <param name="tag">The chart name; a slash groups charts (e.g. <c>eval/completion_loss</c>).</param>
    /// <param name="value">The value (stored as a 32-bit float, as TensorBoard's simple_value is).</param>
    /// <param name="step">The x-axis position (the optimizer step), 0 to <see cref="int.MaxValue"/>.</param>
    /// <param name="wallTime">Seconds since the Unix epoch (whole seconds are kept); null: now.</param>
    public void AddScalar(string tag, double value, long step, double? wallTime = null) =>
        AddScalars(step, [new KeyValuePair<string, double>(tag, value)], wallTime);

    /// <summary>Appends several scalars of the same step and wall time (one event each).</summary>
    /// <param name="step">The x-axis position (the optimizer step), 0 to <see cref="int.MaxValue"/>.</param>
    /// <param name="scalars">Tag and value pairs (values are stored as 32-bit floats); nothing is written when empty.</param>
    /// <param name="wallTime">Seconds since the Unix epoch (whole seconds are kept); null: now.</param>
    public void AddScalars(long step, IEnumerable<KeyValuePair<string, double>> scalars, double? wallTime = null)
    {
        ArgumentNullException.ThrowIfNull(scalars);
        TorchSharp.Modules.SummaryWriter writer = _writer ?? throw new ObjectDisposedException(nameof(TensorBoardWriter), $"The event file '{FilePath}' is closed.");
        if (step is < 0 or > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"TensorBoard steps go from 0 to {int.MaxValue} (TorchSharp's SummaryWriter stores an int).");
        if (wallTime is double w && !double.IsFinite(w))
            throw new ArgumentOutOfRangeException(nameof(wallTime), w, "The wall time must be a finite number of seconds.");
        var values = scalars.ToList();
        foreach (var (tag, _) in values)
        {
            if (string.IsNullOrWhiteSpace(tag))
                throw new ArgumentException($"A TensorBoard scalar needs a non-empty tag (step {step}).", nameof(scalars));
        }
        long seconds = (long)Math.Floor(wallTime ?? (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).TotalSeconds);
        foreach (var (tag, value) in values)
            writer.add_scalar(tag, (float)value, (int)step, seconds);
    }

    /// <summary>Ends writing: later scalars throw <see cref="ObjectDisposedException"/> (everything written is already on disk).</summary>
    public void Dispose() => _writer = null;
}
