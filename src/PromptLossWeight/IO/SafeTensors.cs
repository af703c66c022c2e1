using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace PromptLossWeight.IO;

/// <summary>
/// Reads and writes the safetensors format (an 8-byte little-endian header length, a JSON header, raw tensor bytes).
/// Nothing is ever executed or unpickled: the header is validated (size, dtypes, shapes, byte ranges inside the file,
/// no overlaps) before any tensor memory is allocated, and every error names the file and the tensor.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the format's own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>Reads and validates the header of <paramref name="path"/> without reading tensor data.</summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors; the message says where and why.</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>Loads every tensor of <paramref name="path"/> (optionally converting floating-point tensors to <paramref name="dtype"/>).</summary>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null, ScalarType? dtype = null)
    {
        using var stream = File.OpenRead(path);
        SafeTensorsHeader header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (SafeTensorsEntry entry in header.Entries)
                result[entry.Name] = ReadTensor(stream, header, entry, device, dtype);
        }
        catch
        {
            foreach (Tensor t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Loads one tensor, found through a header read earlier with <see cref="ReadHeader(string)"/>.</summary>
    public static Tensor LoadTensor(SafeTensorsHeader header, string name, Device? device = null, ScalarType? dtype = null)
    {
        SafeTensorsEntry entry = header.Find(name)
            ?? throw new KeyNotFoundException($"{header.Path}: no tensor named '{name}'.");
        using var stream = File.OpenRead(header.Path);
        return ReadTensor(stream, header, entry, device, dtype);
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (a temporary file in the same folder,
    /// then a rename), so a crash never leaves a half-written file under the final name.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var headerJson = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) headerJson["__metadata__"] = metadata;
        var blobs = new List<byte[]>(names.Count);
        long offset = 0;
        foreach (string name in names)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.", nameof(tensors));
            Tensor t = tensors[name];
            string dtypeName = DTypes.FirstOrDefault(kv => kv.Value.Type == t.dtype).Key
                ?? throw new ArgumentException($"Tensor '{name}' has dtype {t.dtype}, which safetensors cannot store.", nameof(tensors));
            using Tensor cpuTensor = t.detach().to(CPU).contiguous();
            byte[] bytes = cpuTensor.bytes.ToArray();
            headerJson[name] = new { dtype = dtypeName, shape = t.shape, data_offsets = new[] { offset, offset + bytes.LongLength } };
            blobs.Add(bytes);
            offset += bytes.LongLength;
        }
        byte[] header = JsonSerializer.SerializeToUtf8Bytes(headerJson);
        int padding = (8 - header.Length % 8) % 8; // keep the data section 8-byte aligned
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                Span<byte> length = stackalloc byte[8];
                BitConverter.TryWriteBytes(length, (ulong)(header.Length + padding));
                stream.Write(length);
                stream.Write(header);
                for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
                foreach (byte[] blob in blobs) stream.Write(blob);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static SafeTensorsHeader ReadHeader(Stream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw Invalid(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.Position = 0;
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BitConverter.ToUInt64(lengthBytes);
        if (headerLength > MaxHeaderBytes) throw Invalid(path, $"the header claims {headerLength} bytes (limit {MaxHeaderBytes})");
        if ((long)headerLength > fileLength - 8) throw Invalid(path, $"the header claims {headerLength} bytes but only {fileLength - 8} follow (truncated file?)");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        if (InvalidUtf8Offset(headerBytes) is int bad)
            throw Invalid(path, $"the header is not valid UTF-8 text (byte {8 + bad} of the file starts an invalid sequence; a tensor name or metadata string is damaged)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException ex)
        {
            throw Invalid(path, $"the header is not valid JSON ({ex.Message})");
        }
        using (doc)
        {
            try
            {
                return ParseHeader(path, doc, dataStart, dataLength);
            }
            catch (InvalidOperationException ex)
            {
                // System.Text.Json cannot turn a name with an escaped lone surrogate (e.g. "\ud800") into a string.
                throw Invalid(path, $"a tensor name or metadata string in the header is not valid Unicode text ({ex.Message})");
            }
        }
    }

    private static SafeTensorsHeader ParseHeader(string path, JsonDocument doc, long dataStart, long dataLength)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Invalid(path, "the header is not a JSON object");
        var entries = new List<SafeTensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(property.Name)) throw Invalid(path, $"the name '{property.Name}' appears twice");
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object) throw Invalid(path, "__metadata__ is not an object");
                foreach (JsonProperty m in property.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Invalid(path, $"metadata '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries.Add(ParseEntry(path, property, dataLength));
        }
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        for (int i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Begin < ordered[i - 1].End)
                throw Invalid(path, $"the bytes of tensors '{ordered[i - 1].Name}' and '{ordered[i].Name}' overlap");
        }
        return new SafeTensorsHeader(path, dataStart, entries, metadata);
    }

    /// <summary>The offset of the first byte that does not belong to a valid UTF-8 sequence, or null when all are valid.</summary>
    private static int? InvalidUtf8Offset(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return null;
        int offset = 0;
        while (offset < bytes.Length)
        {
            System.Buffers.OperationStatus status = System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed);
            if (status != System.Buffers.OperationStatus.Done) return offset;
            offset += consumed;
        }
        return null;
    }

    private static SafeTensorsEntry ParseEntry(string path, JsonProperty property, long dataLength)
    {
        string name = property.Name;
        JsonElement e = property.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Invalid(path, $"tensor '{name}' is not described by an object");
        if (!e.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Invalid(path, $"tensor '{name}' has no string field 'dtype'");
        string dtype = dtypeElement.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info)) throw Invalid(path, $"tensor '{name}' has unsupported dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Invalid(path, $"tensor '{name}' has no array field 'shape'");
        var shape = new List<long>();
        long elements = 1;
        foreach (JsonElement d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw Invalid(path, $"tensor '{name}' has an invalid dimension {d}");
            shape.Add(dim);
            elements = dim == 0 ? 0 : (elements > long.MaxValue / dim ? throw Invalid(path, $"tensor '{name}' is impossibly large") : elements * dim);
        }
        if (!e.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw Invalid(path, $"tensor '{name}' has no valid 'data_offsets' [begin, end]");
        if (begin < 0 || end < begin || end > dataLength)
            throw Invalid(path, $"tensor '{name}' has data_offsets [{begin}, {end}] outside the {dataLength}-byte data section");
        if (elements > long.MaxValue / info.Size || end - begin != elements * info.Size)
            throw Invalid(path, $"tensor '{name}' ({dtype} [{string.Join(", ", shape)}]) needs {elements * info.Size} bytes but data_offsets give {end - begin}");
        return new SafeTensorsEntry(name, dtype, shape.ToArray(), begin, end);
    }

    private static Tensor ReadTensor(Stream stream, SafeTensorsHeader header, SafeTensorsEntry entry, Device? device, ScalarType? dtype)
    {
        var (type, _) = DTypes[entry.DType];
        if (entry.ByteLength > Array.MaxLength)
            throw Invalid(header.Path, $"tensor '{entry.Name}' has {entry.ByteLength} bytes, more than one read supports");
        var bytes = new byte[entry.ByteLength];
        stream.Position = header.DataStart + entry.Begin;
        stream.ReadExactly(bytes);
        Tensor t = empty(entry.Shape, type);
        if (bytes.Length > 0) t.bytes = bytes;
        if (dtype is ScalarType target && is_floating_point(t) && t.dtype != target)
        {
            Tensor converted = t.to(target);
            t.Dispose();
            t = converted;
        }
        if (device is not null && (t.device_type != device.type || (device.index >= 0 && t.device_index != device.index)))
        {
            Tensor moved = t.to(device);
            t.Dispose();
            t = moved;
        }
        return t;
    }

    private static InvalidDataException Invalid(string path, string problem) =>
        new($"{path}: not a valid safetensors file: {problem}.");
}
