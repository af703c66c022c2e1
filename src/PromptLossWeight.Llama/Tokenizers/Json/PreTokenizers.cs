using System.Text;
using System.Text.Json;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// A piece of text between pre-tokenization splits. <c>AtStart</c> marks the piece that begins an encode call;
/// <c>Continues</c> the piece that begins text continuing directly after other tokens (it gets no prefix space).
/// </summary>
internal readonly record struct Piece(string Text, bool AtStart, bool Continues = false);

/// <summary>
/// The pre-tokenizers of tokenizer.json that BPE models use: Sequence, Split (string or regex, every split
/// behaviour, invert), ByteLevel (with its GPT-2 regex and byte-to-character mapping), Metaspace, Digits,
/// Whitespace and WhitespaceSplit, each following the Hugging Face tokenizers library's rules.
/// </summary>
internal static class PreTokenizers
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static Func<List<Piece>, List<Piece>> Create(JsonElement element, string path, string field)
    {
        if (element.ValueKind == JsonValueKind.Null || element.ValueKind == JsonValueKind.Undefined)
            return pieces => pieces;
        string type = JsonRead.Type(element, path, field);
        switch (type)
        {
            case "Sequence":
                var steps = JsonRead.Items(element, "pretokenizers", path, field).Select(i => Create(i.Element, path, i.Field)).ToList();
                return pieces => steps.Aggregate(pieces, (p, step) => step(p));
            case "Split":
                var pattern = JsonRead.Pattern(element, path, field);
                string behavior = JsonRead.String(element, "behavior") ?? "Isolated";
                bool invert = JsonRead.Bool(element, "invert", false);
                CheckBehavior(behavior, path, field);
                return pieces => SplitAll(pieces, pattern, behavior, invert);
            case "ByteLevel":
                bool addPrefix = JsonRead.Bool(element, "add_prefix_space", true);
                var regex = JsonRead.Bool(element, "use_regex", true) ? new CodePointRegex(Gpt2Pattern, path) : null;
                return pieces => ByteLevel(pieces, addPrefix, regex);
            case "Metaspace":
                return Metaspace(element, path, field);
            case "Digits":
                var digits = new CodePointRegex(JsonRead.Bool(element, "individual_digits", false) ? @"\p{N}" : @"\p{N}+", path);
                return pieces => SplitAll(pieces, digits, "Isolated", false);
            case "Whitespace":
                var words = new CodePointRegex(@"\w+|[^\w\s]+", path);
                return pieces => SplitAll(pieces, words, "Removed", true);
            case "WhitespaceSplit":
                var spaces = new CodePointRegex(@"\s+", path);
                return pieces => SplitAll(pieces, spaces, "Removed", false);
            default:
                throw new NotSupportedException($"{path}: {field} is a '{type}' pre-tokenizer, which is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit).");
        }
    }

    private static void CheckBehavior(string behavior, string path, string field)
    {
        if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
            throw new NotSupportedException($"{path}: {field}.behavior '{behavior}' is not supported.");
    }

    private static List<Piece> SplitAll(List<Piece> pieces, CodePointRegex pattern, string behavior, bool invert)
    {
        var result = new List<Piece>();
        foreach (var piece in pieces)
        {
            bool first = true;
            foreach (string part in Split(piece.Text, pattern, behavior, invert))
            {
                result.Add(new Piece(part, piece.AtStart && first, piece.Continues && first));
                first = false;
            }
        }
        return result;
    }

    /// <summary>Splits text at the pattern's matches and arranges the parts as the behaviour says.</summary>
    public static IEnumerable<string> Split(string text, CodePointRegex pattern, string behavior, bool invert)
    {
        var segments = new List<(int Start, int End, bool IsMatch)>();
        int position = 0;
        foreach (var (start, length) in pattern.Matches(text))
        {
            if (start > position)
                segments.Add((position, start, invert));
            segments.Add((start, start + length, !invert));
            position = start + length;
        }
        if (position < text.Length)
            segments.Add((position, text.Length, invert));

        var merged = new List<(int Start, int End, bool IsMatch)>();
        switch (behavior)
        {
            case "Isolated":
                merged = segments;
                break;
            case "Removed":
                merged = segments.Where(s => !s.IsMatch).ToList();
                break;
            case "Contiguous":
                foreach (var s in segments)
                {
                    if (s.IsMatch && merged.Count > 0 && merged[^1].IsMatch)
                        merged[^1] = (merged[^1].Start, s.End, true);
                    else
                        merged.Add(s);
                }
                break;
            case "MergedWithPrevious":
            {
                bool previousMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch && !previousMatch && merged.Count > 0)
                        merged[^1] = (merged[^1].Start, s.End, false);
                    else
                        merged.Add((s.Start, s.End, false));
                    previousMatch = s.IsMatch;
                }
                break;
            }
            case "MergedWithNext":
            {
                bool nextMatch = false;
                for (int i = segments.Count - 1; i >= 0; i--)
                {
                    var s = segments[i];
                    if (s.IsMatch && !nextMatch && merged.Count > 0)
                        merged[^1] = (s.Start, merged[^1].End, false);
                    else
                        merged.Add((s.Start, s.End, false));
                    nextMatch = s.IsMatch;
                }
                merged.Reverse();
                break;
            }
        }
        return merged.Where(s => s.End > s.Start).Select(s => text[s.Start..s.End]);
    }

    private static List<Piece> ByteLevel(List<Piece> pieces, bool addPrefixSpace, CodePointRegex? regex)
    {
        var result = new List<Piece>();
        foreach (var piece in pieces)
        {
            string text = addPrefixSpace && !piece.Text.StartsWith(' ') ? " " + piece.Text : piece.Text;
            var parts = regex is null ? [text] : Split(text, regex, "Isolated", false);
            bool first = true;
            foreach (string part in parts)
            {
                result.Add(new Piece(ToByteLevel(part), piece.AtStart && first, piece.Continues && first));
                first = false;
            }
        }
        return result;
    }

    /// <summary>The UTF-8 bytes of the text, each as its byte-level character (GPT-2's printable mapping).</summary>
    public static string ToByteLevel(string text)
    {
        var table = ByteLevelAlphabet.ByteToChar;
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            chars[i] = table[bytes[i]];
        return new string(chars);
    }

    private static Func<List<Piece>, List<Piece>> Metaspace(JsonElement element, string path, string field)
    {
        string replacement = JsonRead.String(element, "replacement") ?? "\u2581";
        if (replacement.Length != 1)
            throw new InvalidDataException($"{path}: {field}.replacement must be one character.");
        string scheme = JsonRead.String(element, "prepend_scheme")
            ?? (JsonRead.Bool(element, "add_prefix_space", true) ? "always" : "never");
        if (scheme is not ("always" or "first" or "never"))
            throw new NotSupportedException($"{path}: {field}.prepend_scheme '{scheme}' is not supported.");
        bool split = JsonRead.Bool(element, "split", true);
        var splitter = new CodePointRegex(System.Text.RegularExpressions.Regex.Escape(replacement), path);
        return pieces =>
        {
            var result = new List<Piece>();
            for (int i = 0; i < pieces.Count; i++)
            {
                string text = pieces[i].Text.Replace(" ", replacement);
                bool prepend = !pieces[i].Continues && (scheme == "always" || (scheme == "first" && pieces[i].AtStart));
                if (prepend && !text.StartsWith(replacement, StringComparison.Ordinal))
                    text = replacement + text;
                var parts = split ? Split(text, splitter, "MergedWithNext", false) : [text];
                bool first = true;
                foreach (string part in parts)
                {
                    result.Add(new Piece(part, pieces[i].AtStart && first, pieces[i].Continues && first));
                    first = false;
                }
            }
            return result;
        };
    }
}
