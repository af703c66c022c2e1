using System.Text;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// A tiktoken BPE file (one "base64-token rank" pair per line, the format of Llama-3's <c>tokenizer.model</c>),
/// checked line by line so that a corrupt file gives an error naming the file and the line.
/// </summary>
internal static class TiktokenFile
{
    /// <summary>Validates the file; returns the number of ranks and the largest rank.</summary>
    public static (int Count, int MaxRank) Validate(byte[] bytes, string source)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"{source}: not a tiktoken file (it is not UTF-8 text).");
        }

        var ranks = new HashSet<int>();
        var tokens = new HashSet<string>(StringComparer.Ordinal);
        int maxRank = -1, lineNumber = 0;
        foreach (string rawLine in text.Split('\n'))
        {
            lineNumber++;
            string line = rawLine.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            string[] parts = line.Split(' ');
            if (parts.Length != 2)
                throw new InvalidDataException($"{source}, line {lineNumber}: expected 'base64-token rank', found '{Shorten(line)}'.");
            Span<byte> buffer = new byte[parts[0].Length];
            if (parts[0].Length == 0 || !Convert.TryFromBase64String(parts[0], buffer, out _))
                throw new InvalidDataException($"{source}, line {lineNumber}: '{Shorten(parts[0])}' is not base64.");
            if (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int rank))
                throw new InvalidDataException($"{source}, line {lineNumber}: rank '{Shorten(parts[1])}' is not a non-negative integer.");
            if (!ranks.Add(rank))
                throw new InvalidDataException($"{source}, line {lineNumber}: rank {rank} appears twice.");
            if (!tokens.Add(parts[0]))
                throw new InvalidDataException($"{source}, line {lineNumber}: token '{parts[0]}' appears twice.");
            maxRank = Math.Max(maxRank, rank);
        }
        if (ranks.Count == 0)
            throw new InvalidDataException($"{source}: not a tiktoken file (no 'base64-token rank' lines).");
        return (ranks.Count, maxRank);
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
