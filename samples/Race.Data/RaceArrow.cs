using Apache.Arrow;
using Apache.Arrow.Ipc;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Samples.Race.Data;

/// <summary>
/// Reads RACE from an Arrow file that the Python <c>datasets</c> library wrote into its cache (an Arrow IPC stream,
/// e.g. <c>~/.cache/huggingface/datasets/ehovy___race/all/0.0.0/{hash}/race-train.arrow</c>; the IPC file format is
/// read too): columns <c>example_id</c>, <c>article</c>, <c>question</c>, <c>answer</c> (strings) and <c>options</c>
/// (a list of strings); other columns are ignored.
/// </summary>
/// <remarks>
/// An unreadable file or a missing column throws a <see cref="DataFormatException"/> naming the file; a bad row follows
/// <see cref="BadRecordPolicy"/> and is named by its 1-based row number across the file's record batches.
/// </remarks>
public static class RaceArrow
{
    /// <summary>Reads the file at <paramref name="path"/>.</summary>
    public static DataReadResult<RaceExample> Read(string path, DataReadOptions? options = null)
    {
        options = (options ?? new DataReadOptions()).Validate();
        using FileStream stream = StrictText.Open(path);
        var collector = new RecordCollector<RaceExample>(path, options);
        int row = 0;
        try
        {
            using ArrowStreamReader reader = IsFileFormat(stream) ? new ArrowFileReader(stream, leaveOpen: true) : new ArrowStreamReader(stream, leaveOpen: true);
            while (!collector.IsFull && reader.ReadNextRecordBatch() is RecordBatch batch)
            {
                using (batch)
                {
                    IArrowArray[] columns = RaceParquet.Columns.Select(name => Column(batch, name, path)).ToArray();
                    for (int i = 0; i < batch.Length && !collector.IsFull; i++)
                    {
                        int index = i;
                        collector.Add($"row {++row}", () => [RaceExample.Create(
                            Text(columns[0], index, "example_id"), Text(columns[1], index, "article"), Text(columns[2], index, "question"),
                            TextList(columns[3], index), Text(columns[4], index, "answer"))]);
                    }
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or OverflowException)
        {
            throw new DataFormatException(path, row > 0 ? $"row {row}" : null, $"is not a readable Arrow file ({e.Message})", e);
        }
        return collector.Result();
    }

    private static bool IsFileFormat(FileStream stream)
    {
        Span<byte> magic = stackalloc byte[6];
        int read = stream.ReadAtLeast(magic, 6, throwOnEndOfStream: false);
        stream.Seek(0, SeekOrigin.Begin);
        return read == 6 && magic.SequenceEqual("ARROW1"u8);
    }

    private static IArrowArray Column(RecordBatch batch, string name, string path)
    {
        int index = batch.Schema.GetFieldIndex(name);
        if (index < 0)
            throw new DataFormatException(path, null, $"has no column '{name}' (expected {string.Join(", ", RaceParquet.Columns)})");
        return batch.Column(index);
    }

    private static string Text(IArrowArray column, int index, string name) => column switch
    {
        _ when column.IsNull(index) => throw new BadRecordException($"column '{name}' is null"),
        StringArray strings => strings.GetString(index) ?? "",
        LargeStringArray strings => strings.GetString(index) ?? "",
        _ => throw new BadRecordException($"column '{name}' must be a string but is {column.Data.DataType.Name}"),
    };

    private static IReadOnlyList<string?> TextList(IArrowArray column, int index)
    {
        if (column.IsNull(index)) return [];
        IArrowArray values = column switch
        {
            ListArray list => list.GetSlicedValues(index),
            LargeListArray list => list.GetSlicedValues(index),
            _ => throw new BadRecordException($"column 'options' must be a list of strings but is {column.Data.DataType.Name}"),
        };
        var items = new List<string?>(values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            items.Add(values.IsNull(i) ? null : values switch
            {
                StringArray strings => strings.GetString(i),
                LargeStringArray strings => strings.GetString(i),
                _ => throw new BadRecordException($"column 'options' must be a list of strings but holds {values.Data.DataType.Name}"),
            });
        }
        return items;
    }
}
