namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// The Python methods templates call on strings (startswith, endswith, strip, lstrip, rstrip, split, upper, lower,
/// title, capitalize, replace, join, find, count) and dicts (get, items, keys, values). Any other method is an error
/// naming it.
/// </summary>
internal static class Methods
{
    private static readonly HashSet<string> StringMethods =
        ["startswith", "endswith", "strip", "lstrip", "rstrip", "split", "upper", "lower", "title", "capitalize", "replace", "join", "find", "count"];

    private static readonly HashSet<string> DictMethods = ["get", "items", "keys", "values"];

    /// <summary>The bound method, or null when <paramref name="target"/> has no method of that name.</summary>
    public static Callable? Bind(object? target, string name, int line) => target switch
    {
        string s when StringMethods.Contains(name) => (args, _) => CallString(s, name, args, line),
        Dictionary<string, object?> d when DictMethods.Contains(name) => (args, _) => CallDict(d, name, args, line),
        _ => null,
    };

    private static object? CallString(string s, string name, List<object?> args, int line)
    {
        string? Text(int i) => i < args.Count ? args[i] as string : null;
        switch (name)
        {
            case "startswith":
            case "endswith":
            {
                var candidates = args.Count > 0 && args[0] is List<object?> list ? list.Select(Values.Str) : [Values.Str(args.Count > 0 ? args[0] : "")];
                return candidates.Any(c => name == "startswith" ? s.StartsWith(c, StringComparison.Ordinal) : s.EndsWith(c, StringComparison.Ordinal));
            }
            case "strip": return Values.Strip(s, Text(0));
            case "lstrip": return Values.Strip(s, Text(0), right: false);
            case "rstrip": return Values.Strip(s, Text(0), left: false);
            case "upper": return s.ToUpperInvariant();
            case "lower": return s.ToLowerInvariant();
            case "title": return System.Globalization.CultureInfo.InvariantCulture.TextInfo.ToTitleCase(s.ToLowerInvariant());
            case "capitalize": return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            case "replace": return s.Replace(Values.Str(args[0]), Values.Str(args[1]), StringComparison.Ordinal);
            case "join": return string.Join(s, Filters.Sequence(args[0], line).Select(Values.Str));
            case "find": return (long)s.IndexOf(Values.Str(args[0]), StringComparison.Ordinal);
            case "count": return (long)CountOf(s, Values.Str(args[0]));
            case "split":
            {
                string? separator = Text(0);
                long max = args.Count > 1 && args[1] is long m ? m : -1;
                if (separator is null)
                {
                    var words = new List<object?>();
                    int i = 0;
                    while (i < s.Length)
                    {
                        while (i < s.Length && Values.IsPythonSpace(s[i])) i++;
                        if (i >= s.Length) break;
                        if (max >= 0 && words.Count == max)
                        {
                            words.Add(Values.Strip(s[i..], null, left: false));
                            break;
                        }
                        int start = i;
                        while (i < s.Length && !Values.IsPythonSpace(s[i])) i++;
                        words.Add(s[start..i]);
                    }
                    return words;
                }
                if (separator.Length == 0)
                    throw new JinjaException("split: empty separator.", line);
                var parts = max >= 0 ? s.Split(separator, (int)max + 1) : s.Split(separator);
                return parts.Select(p => (object?)p).ToList();
            }
            default: throw new JinjaException($"the method str.{name} is not supported.", line);
        }
    }

    private static int CountOf(string s, string part)
    {
        if (part.Length == 0) return s.Length + 1;
        int n = 0;
        for (int i = s.IndexOf(part, StringComparison.Ordinal); i >= 0; i = s.IndexOf(part, i + part.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    private static object? CallDict(Dictionary<string, object?> d, string name, List<object?> args, int line) => name switch
    {
        "get" => args.Count > 0 && args[0] is string key && d.TryGetValue(key, out var v) ? v : args.Count > 1 ? args[1] : null,
        "items" => d.Select(kv => (object?)new TupleValue([kv.Key, kv.Value])).ToList(),
        "keys" => d.Keys.Select(k => (object?)k).ToList(),
        "values" => d.Values.ToList(),
        _ => throw new JinjaException($"the method dict.{name} is not supported.", line),
    };
}
