using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// The decoders of tokenizer.json that BPE models use: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip and
/// Metaspace, each a step from token strings to token strings. <c>atStart</c> false (text continuing after other
/// tokens) keeps a leading space that Strip or Metaspace would remove at the start of a text.
/// </summary>
internal static class Decoders
{
    public static Func<List<string>, bool, List<string>> Create(JsonElement element, string path, string field)
    {
        if (element.ValueKind == JsonValueKind.Null || element.ValueKind == JsonValueKind.Undefined)
            return (tokens, _) => tokens;
        string type = JsonRead.Type(element, path, field);
        switch (type)
        {
            case "Sequence":
                var steps = JsonRead.Items(element, "decoders", path, field).Select(i => Create(i.Element, path, i.Field)).ToList();
                return (tokens, atStart) => steps.Aggregate(tokens, (t, step) => step(t, atStart));
            case "ByteLevel":
                return (tokens, _) => [ByteLevel(tokens)];
            case "Replace":
                var pattern = JsonRead.Pattern(element, path, field);
                string content = JsonRead.String(element, "content") ?? throw new InvalidDataException($"{path}: {field}.content must be a string.");
                return (tokens, _) => tokens.Select(t => Normalizers.Replace(t, pattern, content)).ToList();
            case "ByteFallback":
                return (tokens, _) => ByteFallback(tokens);
            case "Fuse":
                return (tokens, _) => [string.Concat(tokens)];
            case "Strip":
                string strip = JsonRead.String(element, "content") ?? " ";
                int start = JsonRead.Int(element, "start", 0), stop = JsonRead.Int(element, "stop", 0);
                return (tokens, atStart) => tokens.Select((t, i) => Strip(t, strip, atStart ? start : 0, stop)).ToList();
            case "Metaspace":
                string replacement = JsonRead.String(element, "replacement") ?? "\u2581";
                string scheme = JsonRead.String(element, "prepend_scheme") ?? (JsonRead.Bool(element, "add_prefix_space", true) ? "always" : "never");
                return (tokens, atStart) => tokens.Select((t, i) =>
                {
                    string text = t.Replace(replacement, " ");
                    return i == 0 && atStart && scheme != "never" && text.StartsWith(' ') ? text[1..] : text;
                }).ToList();
            default:
                throw new NotSupportedException($"{path}: {field} is a '{type}' decoder, which is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace).");
        }
    }

    private static string ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (char c in string.Concat(tokens))
        {
            if (ByteLevelAlphabet.CharToByte.TryGetValue(c, out byte b))
                bytes.Add(b);
            else
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>();
        var pending = new List<byte>();
        foreach (string token in tokens)
        {
            int value = SentencePieceModel.ByteValue(token);
            if (value >= 0)
            {
                pending.Add((byte)value);
                continue;
            }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;

        void Flush()
        {
            if (pending.Count == 0)
                return;
            result.Add(Encoding.UTF8.GetString(pending.ToArray()));
            pending.Clear();
        }
    }

    private static string Strip(string token, string content, int start, int stop)
    {
        int from = 0, to = token.Length;
        for (int i = 0; i < start && from < to && string.CompareOrdinal(token, from, content, 0, content.Length) == 0; i++)
            from += content.Length;
        for (int i = 0; i < stop && to - content.Length >= from && string.CompareOrdinal(token, to - content.Length, content, 0, content.Length) == 0; i++)
            to -= content.Length;
        return token[from..to];
    }
}
