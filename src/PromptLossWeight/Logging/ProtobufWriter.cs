using System.Buffers.Binary;
using System.Text;

namespace PromptLossWeight.Logging;

/// <summary>
/// A minimal protocol-buffers encoder for the few field kinds TensorBoard events use: varints (int64), fixed64
/// (double), fixed32 (float) and length-delimited fields (strings and nested messages).
/// </summary>
internal sealed class ProtobufWriter
{
    private const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;
    private readonly List<byte> _bytes = [];

    /// <summary>The encoded message so far.</summary>
    public byte[] ToArray() => [.. _bytes];

    /// <summary>An int64 field (two's complement varint, as protobuf encodes negative int64 values).</summary>
    public ProtobufWriter Int64(int field, long value)
    {
        Key(field, Varint);
        WriteVarint(unchecked((ulong)value));
        return this;
    }

    /// <summary>A double field (little-endian fixed64).</summary>
    public ProtobufWriter Double(int field, double value)
    {
        Key(field, Fixed64);
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(buffer, value);
        _bytes.AddRange(buffer);
        return this;
    }

    /// <summary>A float field (little-endian fixed32).</summary>
    public ProtobufWriter Float(int field, float value)
    {
        Key(field, Fixed32);
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(buffer, value);
        _bytes.AddRange(buffer);
        return this;
    }

    /// <summary>A string field (UTF-8, length-delimited).</summary>
    public ProtobufWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>A nested message or bytes field (length-delimited).</summary>
    public ProtobufWriter Bytes(int field, byte[] value)
    {
        Key(field, LengthDelimited);
        WriteVarint((ulong)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    private void Key(int field, int wireType) => WriteVarint(((ulong)field << 3) | (uint)wireType);

    private void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80)); // low 7 bits with the continuation bit
            value >>= 7;
        }
        _bytes.Add((byte)value);
    }
}
