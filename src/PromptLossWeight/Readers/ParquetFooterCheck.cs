using System.Buffers.Binary;

namespace PromptLossWeight.Readers;

/// <summary>
/// Checks the frame of a Parquet file ("PAR1" at both ends, a footer length that fits) and that its footer is
/// well-formed Thrift compact protocol, before the file reaches Parquet.Net: a damaged footer can otherwise send the
/// parser into an endless loop. Returns a description of the problem, or null when the frame is sound.
/// </summary>
internal static class ParquetFooterCheck
{
    private const int MaxDepth = 64;

    public static string? Problem(Stream stream)
    {
        long length = stream.Length;
        if (length < 12) return $"is too short for Parquet ({length} bytes)";
        Span<byte> head = stackalloc byte[4];
        Span<byte> tail = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(head);
        stream.Position = length - 8;
        stream.ReadExactly(tail);
        stream.Position = 0;
        if (!head.SequenceEqual("PAR1"u8)) return "does not start with the Parquet magic bytes PAR1";
        if (!tail[4..].SequenceEqual("PAR1"u8)) return "does not end with the Parquet magic bytes PAR1 (truncated?)";
        int footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (footerLength <= 0 || footerLength > length - 12) return $"has an impossible footer length ({footerLength} bytes in a {length}-byte file)";
        var footer = new byte[footerLength];
        stream.Position = length - 8 - footerLength;
        stream.ReadExactly(footer);
        stream.Position = 0;
        try
        {
            int position = 0;
            SkipStruct(footer, ref position, 0);
            return null;
        }
        catch (FormatException e)
        {
            return $"has a damaged footer ({e.Message})";
        }
    }

    // Thrift compact wire types.
    private const int Bool = 1, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7, Binary = 8, List = 9, Set = 10, Map = 11, Struct = 12;

    /// <summary>What a field of a parquet.thrift struct must be on the wire (Parquet.Net reads known fields by their
    /// declared type whatever the wire says, so a mismatch desynchronises it).</summary>
    private readonly record struct Field(int Type, int Element = 0, string? Of = null);

    private static readonly Dictionary<string, Dictionary<int, Field>> Schema = new()
    {
        ["FileMetaData"] = new() { [1] = new(I32), [2] = new(List, Struct, "SchemaElement"), [3] = new(I64), [4] = new(List, Struct, "RowGroup"),
            [5] = new(List, Struct, "KeyValue"), [6] = new(Binary), [7] = new(List, Struct, "ColumnOrder"), [8] = new(Struct, 0, "Any"), [9] = new(Binary) },
        ["SchemaElement"] = new() { [1] = new(I32), [2] = new(I32), [3] = new(I32), [4] = new(Binary), [5] = new(I32), [6] = new(I32),
            [7] = new(I32), [8] = new(I32), [9] = new(I32), [10] = new(Struct, 0, "LogicalType") },
        ["RowGroup"] = new() { [1] = new(List, Struct, "ColumnChunk"), [2] = new(I64), [3] = new(I64), [4] = new(List, Struct, "SortingColumn"),
            [5] = new(I64), [6] = new(I64), [7] = new(I16) },
        ["ColumnChunk"] = new() { [1] = new(Binary), [2] = new(I64), [3] = new(Struct, 0, "ColumnMetaData"), [4] = new(I64), [5] = new(I32),
            [6] = new(I64), [7] = new(I32), [8] = new(Struct, 0, "Any"), [9] = new(Binary) },
        ["ColumnMetaData"] = new() { [1] = new(I32), [2] = new(List, I32), [3] = new(List, Binary), [4] = new(I32), [5] = new(I64), [6] = new(I64),
            [7] = new(I64), [8] = new(List, Struct, "KeyValue"), [9] = new(I64), [10] = new(I64), [11] = new(I64), [12] = new(Struct, 0, "Statistics"),
            [13] = new(List, Struct, "PageEncodingStats"), [14] = new(I64), [15] = new(I32), [16] = new(Struct, 0, "SizeStatistics") },
        ["KeyValue"] = new() { [1] = new(Binary), [2] = new(Binary) },
        ["Statistics"] = new() { [1] = new(Binary), [2] = new(Binary), [3] = new(I64), [4] = new(I64), [5] = new(Binary), [6] = new(Binary), [7] = new(Bool), [8] = new(Bool) },
        ["PageEncodingStats"] = new() { [1] = new(I32), [2] = new(I32), [3] = new(I32) },
        ["SortingColumn"] = new() { [1] = new(I32), [2] = new(Bool), [3] = new(Bool) },
        ["SizeStatistics"] = new() { [1] = new(I64), [2] = new(List, I64), [3] = new(List, I64) },
        ["ColumnOrder"] = new() { [1] = new(Struct, 0, "Any") },
        ["LogicalType"] = new(),
        ["Any"] = new(),
    };

    private static void SkipStruct(byte[] b, ref int p, int depth, string name = "FileMetaData")
    {
        if (depth > MaxDepth) throw new FormatException("nesting too deep");
        var fields = Schema[name];
        int fieldId = 0;
        while (true)
        {
            byte header = ReadByte(b, ref p);
            if (header == 0) return;
            int type = header & 0x0F;
            int delta = header >> 4;
            fieldId = delta == 0 ? Zigzag(ReadVarint(b, ref p)) : fieldId + delta;
            if (type == 2) type = Bool;
            if (fields.TryGetValue(fieldId, out Field expected))
            {
                if (type != expected.Type)
                    throw new FormatException($"field {fieldId} of {name} has wire type {type} instead of {expected.Type}");
                if (type == List)
                {
                    long size = ReadListHeader(b, ref p, out int element);
                    if (element != expected.Element)
                        throw new FormatException($"list field {fieldId} of {name} holds wire type {element} instead of {expected.Element}");
                    for (long i = 0; i < size; i++)
                        SkipValue(b, ref p, element, depth + 1, expected.Of ?? "Any");
                    continue;
                }
                SkipValue(b, ref p, type, depth, expected.Of ?? "Any", inCollection: false);
                continue;
            }
            SkipValue(b, ref p, type, depth, "Any", inCollection: false);
        }
    }

    private static void SkipValue(byte[] b, ref int p, int type, int depth, string structName, bool inCollection = true)
    {
        switch (type)
        {
            case Bool:
                // Parquet.Net's skip does not consume the byte of a bool inside a collection: refuse such lists.
                if (inCollection) throw new FormatException("a collection of booleans is not expected in a Parquet footer");
                break;
            case Byte: ReadByte(b, ref p); break;
            case I16 or I32 or I64: ReadVarint(b, ref p); break;
            case Binary: Advance(b, ref p, ReadLength(b, ref p)); break;
            case List:
            {
                long size = ReadListHeader(b, ref p, out int element);
                for (long i = 0; i < size; i++) SkipValue(b, ref p, element, depth + 1, "Any");
                break;
            }
            case Struct: SkipStruct(b, ref p, depth + 1, structName); break;
            // Parquet.Net cannot skip these; parquet.thrift does not use them in the metadata it reads.
            case Double or Set or Map: throw new FormatException($"unexpected Thrift type {type} at byte {p}");
            default: throw new FormatException($"unknown Thrift type {type} at byte {p}");
        }
    }

    private static long ReadListHeader(byte[] b, ref int p, out int element)
    {
        byte h = ReadByte(b, ref p);
        long size = h >> 4;
        if (size == 15) size = ReadLength(b, ref p);
        element = h & 0x0F;
        if (element == 2) element = Bool;
        CheckCount(b, p, size);
        return size;
    }

    private static int Zigzag(ulong v)
    {
        long n = (long)(v >> 1) ^ -(long)(v & 1);
        if (n < short.MinValue || n > short.MaxValue) throw new FormatException("a field id is out of range");
        return (int)n;
    }

    private static void CheckCount(byte[] b, int p, long count)
    {
        if (count > b.Length - p) throw new FormatException($"a collection of {count} items cannot fit in the footer");
    }

    private static byte ReadByte(byte[] b, ref int p)
    {
        if (p >= b.Length) throw new FormatException("the footer ends in the middle of a value");
        return b[p++];
    }

    private static void Advance(byte[] b, ref int p, long count)
    {
        if (count < 0 || count > b.Length - p) throw new FormatException("a value runs past the end of the footer");
        p += (int)count;
    }

    private static long ReadLength(byte[] b, ref int p)
    {
        ulong v = ReadVarint(b, ref p);
        if (v > int.MaxValue) throw new FormatException("a length is out of range");
        return (long)v;
    }

    private static ulong ReadVarint(byte[] b, ref int p)
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte x = ReadByte(b, ref p);
            result |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return result;
        }
        throw new FormatException("a varint is too long");
    }
}
