using System.Buffers.Binary;
using System.IO.Hashing;

namespace PromptLossWeight.Logging;

/// <summary>
/// TFRecord framing, the container of TensorBoard event files: for each record, the data length (uint64
/// little-endian), the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the data (each uint32 little-endian).
/// </summary>
internal static class TfRecord
{
    /// <summary>Appends one framed record to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc32C(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(data));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
    }

    /// <summary>CRC32C (Castagnoli) of <paramref name="data"/>, rotated right by 15 bits plus 0xa282ead8, as TFRecord stores it.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }
}
