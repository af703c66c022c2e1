namespace PromptLossWeight.Logging;

/// <summary>
/// Encodes the TensorBoard <c>Event</c> protobuf (tensorflow/core/util/event.proto): wall_time = 1 (double),
/// step = 2 (int64), file_version = 3 (string), summary = 5 (Summary { repeated Value value = 1 { tag = 1,
/// simple_value = 2 (float) } }). Fields at their default value (step 0) are left out, as proto3 does.
/// </summary>
internal static class TensorBoardEvent
{
    /// <summary>The file_version of the first record of every event file.</summary>
    public const string FileVersion = "brain.Event:2";

    /// <summary>The first event of a file: its wall time and the file version.</summary>
    public static byte[] Header(double wallTime) =>
        new ProtobufWriter().Double(1, wallTime).String(3, FileVersion).ToArray();

    /// <summary>One event holding scalar summaries (one Value per tag) at <paramref name="step"/>.</summary>
    public static byte[] Scalars(double wallTime, long step, IEnumerable<(string Tag, float Value)> scalars)
    {
        var summary = new ProtobufWriter();
        foreach (var (tag, value) in scalars)
            summary.Bytes(1, new ProtobufWriter().String(1, tag).Float(2, value).ToArray());
        var ev = new ProtobufWriter().Double(1, wallTime);
        if (step != 0) ev.Int64(2, step);
        return ev.Bytes(5, summary.ToArray()).ToArray();
    }
}
