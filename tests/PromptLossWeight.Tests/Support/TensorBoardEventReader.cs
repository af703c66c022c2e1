using System.Buffers.Binary;
using System.Text;

namespace PromptLossWeight.Tests.Support;

/// <summary>One decoded TensorBoard <c>Event</c>: wall time, step, file version (first record only) and scalar values.</summary>
internal sealed record TensorBoardEventRecord(double WallTime, long Step, string? FileVersion, IReadOnlyList<(string Tag, float Value)> Scalars)
{
    public float Scalar(string tag) => Scalars.Single(s => s.Tag == tag).Value;
}

/// <summary>
/// A reader written for the tests, independent of the library's writer: TFRecord framing with both masked CRC32C
/// checks (bitwise CRC, no table, no library) and a protobuf decoder for the Event / Summary / Value messages.
/// </summary>
internal static class TensorBoardEventReader
{
    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }

    public static uint Masked(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);

    /// <summary>The data of every record, after checking both CRCs; throws InvalidDataException naming the record.</summary>
    public static List<byte[]> ReadRecords(byte[] file)
    {
        var records = new List<byte[]>();
        int at = 0;
        while (at < file.Length)
        {
            int index = records.Count;
            if (file.Length - at < 12) throw new InvalidDataException($"record {index}: truncated header");
            ReadOnlySpan<byte> lengthBytes = file.AsSpan(at, 8);
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8, 4)) != Masked(Crc32C(lengthBytes)))
                throw new InvalidDataException($"record {index}: length CRC mismatch");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (length > (ulong)(file.Length - at - 16)) throw new InvalidDataException($"record {index}: truncated data");
            byte[] data = file.AsSpan(at + 12, (int)length).ToArray();
            if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 12 + (int)length, 4)) != Masked(Crc32C(data)))
                throw new InvalidDataException($"record {index}: data CRC mismatch");
            records.Add(data);
            at += 16 + (int)length;
        }
        return records;
    }

    /// <summary>Reads a file that may still be open for writing.</summary>
    public static List<TensorBoardEventRecord> ReadFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return ReadRecords(copy.ToArray()).Select(DecodeEvent).ToList();
    }

    public static TensorBoardEventRecord DecodeEvent(byte[] data)
    {
        double wallTime = 0;
        long step = 0;
        string? fileVersion = null;
        var scalars = new List<(string, float)>();
        foreach (var (field, value) in Fields(data))
        {
            switch (field)
            {
                case 1: wallTime = BitConverter.Int64BitsToDouble((long)(ulong)value); break;
                case 2: step = (long)(ulong)value; break;
                case 3: fileVersion = Encoding.UTF8.GetString((byte[])value); break;
                case 5:
                    foreach (var (summaryField, summaryValue) in Fields((byte[])value))
                        if (summaryField == 1) scalars.Add(DecodeValue((byte[])summaryValue));
                    break;
                default: throw new InvalidDataException($"unexpected Event field {field}");
            }
        }
        return new TensorBoardEventRecord(wallTime, step, fileVersion, scalars);
    }

    private static (string, float) DecodeValue(byte[] data)
    {
        string? tag = null;
        float? simple = null;
        foreach (var (field, value) in Fields(data))
        {
            if (field == 1) tag = Encoding.UTF8.GetString((byte[])value);
            else if (field == 2) simple = BitConverter.Int32BitsToSingle((int)(uint)(ulong)value);
            else throw new InvalidDataException($"unexpected Summary.Value field {field}");
        }
        return (tag ?? throw new InvalidDataException("Summary.Value without tag"), simple ?? throw new InvalidDataException($"value '{tag}' has no simple_value"));
    }

    /// <summary>The fields of a message: varint and fixed values as ulong (raw bits), length-delimited ones as byte[].</summary>
    private static IEnumerable<(int Field, object Value)> Fields(byte[] data)
    {
        int at = 0;
        while (at < data.Length)
        {
            ulong key = Varint(data, ref at);
            int field = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0: yield return (field, Varint(data, ref at)); break;
                case 1: yield return (field, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at, 8))); at += 8; break;
                case 5: yield return (field, (ulong)BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at, 4))); at += 4; break;
                case 2:
                    int length = checked((int)Varint(data, ref at));
                    yield return (field, data.AsSpan(at, length).ToArray());
                    at += length;
                    break;
                default: throw new InvalidDataException($"unsupported wire type {key & 7} of field {field}");
            }
        }
    }

    private static ulong Varint(byte[] data, ref int at)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = data[at++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new InvalidDataException("varint longer than 10 bytes");
    }
}
