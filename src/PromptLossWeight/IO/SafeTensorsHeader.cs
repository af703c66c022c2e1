namespace PromptLossWeight.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">The safetensors dtype string (F32, BF16, I64, …).</param>
/// <param name="Shape">The tensor's shape.</param>
/// <param name="Begin">Start of its bytes, relative to the data section.</param>
/// <param name="End">End (exclusive) of its bytes, relative to the data section.</param>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of bytes the tensor occupies.</summary>
    public long ByteLength => End - Begin;
}

/// <summary>
/// The validated header of a safetensors file: the tensors it holds (name, dtype, shape, byte range) and its metadata.
/// </summary>
/// <param name="Path">The file it was read from.</param>
/// <param name="DataStart">Offset of the data section in the file (8 + header length).</param>
/// <param name="Entries">The tensors, in file order.</param>
/// <param name="Metadata">The <c>__metadata__</c> string map (empty when absent).</param>
public sealed record SafeTensorsHeader(string Path, long DataStart, IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public SafeTensorsEntry? Find(string name) => Entries.FirstOrDefault(e => e.Name == name);
}
