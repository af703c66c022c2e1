namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// The filters chat templates use: trim, length/count, tojson, string, lower, upper, capitalize, title, first, last,
/// join, default/d, list, items, reverse, replace, int, float, abs, safe, map(attribute=), selectattr, rejectattr.
/// Any other filter is an error naming it.
/// </summary>
internal static class Filters
{
    public static object? Apply(string name, object? value, List<object?> args, Dictionary<string, object?> keywords, int line)
    {
        object? Arg(int i, string keyword, object? fallback) =>
            i < args.Count ? args[i] : keywords.TryGetValue(keyword, out var v) ? v : fallback;
        switch (name)
        {
            case "trim":
                return Values.Strip(Values.Str(value), Arg(0, "chars", null) as string);
            case "length":
            case "count":
                return value switch
                {
                    string s => (long)s.Length,
                    List<object?> l => (long)l.Count,
                    Dictionary<string, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw new JinjaException($"a {Values.TypeName(value)} has no length.", line),
                };
            case "tojson":
                return Values.ToJson(value, Arg(0, "indent", null) is long indent ? (int)indent : null);
            case "string": return Values.Str(value);
            case "lower": return Values.Str(value).ToLowerInvariant();
            case "upper": return Values.Str(value).ToUpperInvariant();
            case "capitalize":
            {
                string s = Values.Str(value);
                return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            }
            case "title":
                return System.Globalization.CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Values.Str(value).ToLowerInvariant());
            case "first": return Sequence(value, line) is { Count: > 0 } f ? f[0] : new Undefined("first");
            case "last": return Sequence(value, line) is { Count: > 0 } l2 ? l2[^1] : new Undefined("last");
            case "join":
                return string.Join(Values.Str(Arg(0, "d", "")), Sequence(value, line).Select(Values.Str));
            case "default":
            case "d":
                bool boolean = Values.Truthy(Arg(1, "boolean", false));
                return value is Undefined || (boolean && !Values.Truthy(value)) ? Arg(0, "default_value", "") : value;
            case "list": return Sequence(value, line);
            case "items":
                return value is Dictionary<string, object?> dict
                    ? dict.Select(kv => (object?)new TupleValue([kv.Key, kv.Value])).ToList()
                    : throw new JinjaException($"items needs a dict, not a {Values.TypeName(value)}.", line);
            case "reverse":
                return value is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(Sequence(value, line)).ToList();
            case "replace":
                return Values.Str(value).Replace(Values.Str(Arg(0, "old", "")), Values.Str(Arg(1, "new", "")), StringComparison.Ordinal);
            case "int":
                return value switch
                {
                    long n => n,
                    double d => (long)d,
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), out long parsed) => parsed,
                    _ => Arg(0, "default", 0L),
                };
            case "float":
                return value switch
                {
                    long or double or bool => Values.ToDouble(value),
                    string s when double.TryParse(s.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double parsed) => parsed,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs":
                return value is long an ? (object)Math.Abs(an) : Math.Abs(Values.ToDouble(value));
            case "safe":
                return value;
            case "map":
                if (keywords.TryGetValue("attribute", out var attribute) && attribute is string attr)
                    return Sequence(value, line).Select(item => Interpreter.GetAttribute(item, attr, line)).ToList();
                throw new JinjaException("the construct 'map' with a filter name is not supported; use map(attribute='...').", line);
            case "selectattr":
            case "rejectattr":
            {
                string key = Values.Str(Arg(0, "attribute", ""));
                string test = args.Count > 1 ? Values.Str(args[1]) : "truthy";
                var testArgs = args.Skip(2).ToList();
                bool keep = name == "selectattr";
                return Sequence(value, line).Where(item =>
                {
                    var field = Interpreter.GetAttribute(item, key, line);
                    bool result = test == "truthy" ? Values.Truthy(field) : Tests.Apply(test, field, testArgs, line);
                    return result == keep;
                }).ToList();
            }
            default:
                throw new JinjaException($"the filter '{name}' is not supported.", line);
        }
    }

    public static List<object?> Sequence(object? value, int line) => value switch
    {
        List<object?> list => list,
        string s => s.Select(c => (object?)c.ToString()).ToList(),
        Dictionary<string, object?> dict => dict.Keys.Select(k => (object?)k).ToList(),
        Undefined => [],
        _ => throw new JinjaException($"a {Values.TypeName(value)} is not iterable.", line),
    };
}
