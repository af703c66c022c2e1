using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PromptLossWeight.Llama.Tokenizers.Json;

/// <summary>
/// A regular expression that matches by Unicode code points, as the Rust and JavaScript regex engines of the
/// tokenizers do. .NET matches UTF-16 code units, so a letter outside the BMP (𝐀, 𠀀) is two surrogates and not
/// <c>\p{L}</c>. Text with surrogate pairs is matched on a stand-in string where every code point is one char: BMP
/// characters stay, each supplementary character becomes a BMP character of the same general category; match
/// positions are then mapped back to the original string.
/// </summary>
internal sealed class CodePointRegex
{
    private static readonly Dictionary<UnicodeCategory, char> StandIns = BuildStandIns();
    private readonly Regex _regex;

    public CodePointRegex(string pattern, string source)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: the regular expression /{pattern}/ does not compile in .NET: {e.Message}", e);
        }
    }

    /// <summary>The (start, length) of every match, in UTF-16 positions of <paramref name="text"/>.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var result = new List<(int, int)>();
        if (!text.Any(char.IsSurrogate))
        {
            for (var m = _regex.Match(text); m.Success; m = m.NextMatch())
            {
                if (m.Length > 0)
                    result.Add((m.Index, m.Length));
            }
            return result;
        }
        var standIn = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                standIn.Append(StandIns[CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))]);
                i++;
            }
            else
            {
                standIn.Append(text[i]);
            }
        }
        offsets.Add(text.Length);
        for (var m = _regex.Match(standIn.ToString()); m.Success; m = m.NextMatch())
        {
            if (m.Length > 0)
                result.Add((offsets[m.Index], offsets[m.Index + m.Length] - offsets[m.Index]));
        }
        return result;
    }

    /// <summary>For each category, a BMP character outside ASCII and the CJK/kana blocks that patterns name explicitly.</summary>
    private static Dictionary<UnicodeCategory, char> BuildStandIns()
    {
        var map = new Dictionary<UnicodeCategory, char>();
        for (int c = 0x100; c <= 0xFFFF; c++)
        {
            if (c is >= 0x2E80 and <= 0x9FFF or >= 0xAC00 and <= 0xDFFF or >= 0xF900 and <= 0xFAFF or 0x17F or 0x212A or 0x212B)
                continue;
            map.TryAdd(CharUnicodeInfo.GetUnicodeCategory((char)c), (char)c);
        }
        return map;
    }
}
