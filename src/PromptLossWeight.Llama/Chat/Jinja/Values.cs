using System.Globalization;
using System.Text;

namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>A missing variable, attribute or item: renders as "", is false and fails when used in arithmetic.</summary>
internal sealed record Undefined(string Name);

/// <summary>The object <c>namespace(...)</c> makes: attributes that <c>{% set ns.x = ... %}</c> can change from inside loops.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A Python tuple: a list that renders as (a, b).</summary>
internal sealed class TupleValue : List<object?>
{
    public TupleValue(IEnumerable<object?> items)
        : base(items)
    {
    }
}

/// <summary>A function the template can call (a global such as <c>raise_exception</c>, or a bound method).</summary>
internal delegate object? Callable(List<object?> arguments, Dictionary<string, object?> keywords);

/// <summary>
/// Python's value semantics as Jinja2 uses them: truthiness, equality and ordering, <c>str()</c> and <c>repr()</c>,
/// <c>json.dumps</c> (for <c>tojson</c>) and whitespace stripping. Values are null (None), <see cref="Undefined"/>,
/// bool, long, double, string, <c>List&lt;object?&gt;</c>, <c>Dictionary&lt;string, object?&gt;</c>, <see cref="Namespace"/>
/// and <see cref="Callable"/>.
/// </summary>
internal static class Values
{
    /// <summary>The characters Python's <c>str.strip()</c> removes (<c>str.isspace</c>).</summary>
    public static bool IsPythonSpace(char c) =>
        c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r' or '\x1c' or '\x1d' or '\x1e' or '\x1f' or '\x85' or '\xa0'
            or '\u1680' or (>= '\u2000' and <= '\u200a') or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000';

    /// <summary>Python's <c>strip</c>/<c>lstrip</c>/<c>rstrip</c>: whitespace, or the characters of <paramref name="chars"/>.</summary>
    public static string Strip(string text, string? chars, bool left = true, bool right = true)
    {
        Func<char, bool> strip = chars is null ? IsPythonSpace : chars.Contains;
        int start = 0, end = text.Length;
        if (left)
            while (start < end && strip(text[start])) start++;
        if (right)
            while (end > start && strip(text[end - 1])) end--;
        return text[start..end];
    }

    public static bool Truthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long n => n != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        Dictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static double ToDouble(object? value) => value switch
    {
        long n => n,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"{TypeName(value)} is not a number."),
    };

    public new static bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined)
            return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b))
            return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equals(p.First, p.Second)),
            (Dictionary<string, object?> x, Dictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && Equals(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y)
            return string.CompareOrdinal(x, y);
        throw new JinjaException($"cannot order {TypeName(a)} and {TypeName(b)}.");
    }

    public static string TypeName(object? value) => value switch
    {
        null => "None",
        Undefined u => $"undefined '{u.Name}'",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        Namespace => "namespace",
        _ => "function",
    };

    /// <summary>Python's <c>str()</c>; undefined renders as "".</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value) => value switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long n => n.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        string s => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t") + "'",
        TupleValue tuple => "(" + string.Join(", ", tuple.Select(Repr)) + (tuple.Count == 1 ? ",)" : ")"),
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        Dictionary<string, object?> dict => "{" + string.Join(", ", dict.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        Namespace => "<Namespace>",
        _ => "<function>",
    };

    private static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        if (r.Contains('E'))
        {
            var parts = r.Split('E');
            int exponent = int.Parse(parts[1], CultureInfo.InvariantCulture);
            r = parts[0] + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
            return r;
        }
        return r.Contains('.') ? r : r + ".0";
    }

    /// <summary>Python's <c>json.dumps(value, ensure_ascii=False, indent=indent)</c>, as Hugging Face's <c>tojson</c>.</summary>
    public static string ToJson(object? value, int? indent = null)
    {
        var text = new StringBuilder();
        Write(value, 0);
        return text.ToString();

        void Write(object? v, int depth)
        {
            switch (v)
            {
                case null or Undefined: text.Append("null"); break;
                case bool b: text.Append(b ? "true" : "false"); break;
                case long n: text.Append(n.ToString(CultureInfo.InvariantCulture)); break;
                case double d: text.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FloatRepr(d)); break;
                case string s: JsonString(s); break;
                case List<object?> list:
                    Container('[', ']', list.Count, depth, i => Write(list[i], depth + 1));
                    break;
                case Dictionary<string, object?> dict:
                    var entries = dict.ToList();
                    Container('{', '}', entries.Count, depth, i =>
                    {
                        JsonString(entries[i].Key);
                        text.Append(": ");
                        Write(entries[i].Value, depth + 1);
                    });
                    break;
                default: throw new JinjaException($"tojson cannot serialize a {TypeName(v)}.");
            }
        }

        void Container(char open, char close, int count, int depth, Action<int> item)
        {
            text.Append(open);
            if (count == 0)
            {
                text.Append(close);
                return;
            }
            for (int i = 0; i < count; i++)
            {
                if (i > 0)
                    text.Append(indent is null ? ", " : ",");
                if (indent is int n)
                    text.Append('\n').Append(' ', n * (depth + 1));
                item(i);
            }
            if (indent is int m)
                text.Append('\n').Append(' ', m * depth);
            text.Append(close);
        }

        void JsonString(string s)
        {
            text.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': text.Append("\\\""); break;
                    case '\\': text.Append("\\\\"); break;
                    case '\n': text.Append("\\n"); break;
                    case '\r': text.Append("\\r"); break;
                    case '\t': text.Append("\\t"); break;
                    case '\b': text.Append("\\b"); break;
                    case '\f': text.Append("\\f"); break;
                    default:
                        if (c < 0x20)
                            text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            text.Append(c);
                        break;
                }
            }
            text.Append('"');
        }
    }
}
