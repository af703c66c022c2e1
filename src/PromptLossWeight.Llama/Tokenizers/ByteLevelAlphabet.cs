namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// The byte-level BPE alphabet of GPT-2: every byte is written as one printable character (printable Latin-1
/// bytes as themselves, the others as U+0100 onwards), so that tokens can be stored as text in tokenizer.json.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Character to byte.</summary>
    public static IReadOnlyDictionary<char, byte> CharToByte { get; } = Build();

    /// <summary>Byte to character.</summary>
    public static char[] ByteToChar { get; } = CharToByte.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();

    private static Dictionary<char, byte> Build()
    {
        var map = new Dictionary<char, byte>();
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[(char)(printable ? b : next++)] = (byte)b;
        }
        return map;
    }
}
