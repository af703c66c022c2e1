using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// The normalizers of tokenizer.json that BPE models use: Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Prepend,
/// Replace and Strip. Each is a function from text to text; <c>atStart</c> false (text that continues after other
/// tokens) skips Prepend, as the continuation of a SentencePiece-style text gets no dummy prefix.
/// </summary>
internal static class Normalizers
{
    public static Func<string, bool, string> Create(JsonElement element, string path, string field)
    {
        if (element.ValueKind == JsonValueKind.Null || element.ValueKind == JsonValueKind.Undefined)
            return (text, _) => text;
        string type = JsonRead.Type(element, path, field);
        switch (type)
        {
            case "Sequence":
                var steps = JsonRead.Items(element, "normalizers", path, field).Select(i => Create(i.Element, path, i.Field)).ToList();
                return (text, atStart) => steps.Aggregate(text, (t, step) => step(t, atStart));
            case "NFC": return (text, _) => text.Normalize(NormalizationForm.FormC);
            case "NFD": return (text, _) => text.Normalize(NormalizationForm.FormD);
            case "NFKC": return (text, _) => text.Normalize(NormalizationForm.FormKC);
            case "NFKD": return (text, _) => text.Normalize(NormalizationForm.FormKD);
            case "Lowercase": return (text, _) => text.ToLowerInvariant();
            case "Prepend":
                string prefix = JsonRead.String(element, "prepend") ?? throw new InvalidDataException($"{path}: {field}.prepend must be a string.");
                return (text, atStart) => atStart && text.Length > 0 ? prefix + text : text;
            case "Replace":
                var pattern = JsonRead.Pattern(element, path, field);
                string content = JsonRead.String(element, "content") ?? throw new InvalidDataException($"{path}: {field}.content must be a string.");
                return (text, _) => Replace(text, pattern, content);
            case "Strip":
                bool left = JsonRead.Bool(element, "strip_left", true), right = JsonRead.Bool(element, "strip_right", true);
                return (text, _) => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
            default:
                throw new NotSupportedException($"{path}: {field} is a '{type}' normalizer, which is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip).");
        }
    }

    /// <summary>Replaces every match of the pattern with the content.</summary>
    public static string Replace(string text, CodePointRegex pattern, string content)
    {
        var matches = pattern.Matches(text);
        if (matches.Count == 0)
            return text;
        var result = new StringBuilder(text.Length);
        int position = 0;
        foreach (var (start, length) in matches)
        {
            result.Append(text, position, start - position).Append(content);
            position = start + length;
        }
        return result.Append(text, position, text.Length - position).ToString();
    }
}
