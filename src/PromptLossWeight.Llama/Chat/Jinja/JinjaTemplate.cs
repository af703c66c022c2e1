namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// A chat template in the Jinja subset this library interprets, parsed once and rendered many times. Supported:
/// text and <c>{{ }}</c>, <c>{% if/elif/else %}</c>, <c>{% for %}</c> (loop variables, tuple targets, filters, else,
/// break/continue), <c>{% set %}</c> (names and namespace attributes), <c>namespace()</c>, <c>raise_exception()</c>,
/// <c>range()</c>, the operators of Jinja expressions (<c>~ + - * / // % **</c>, comparisons, <c>in</c>, <c>and or not</c>,
/// conditional expressions), subscripts and slices (<c>messages[1:]</c>, <c>[::-1]</c>), filters (trim, length,
/// tojson, ...), tests (defined, none, string, ...) and Python string/dict methods. Whitespace follows Hugging
/// Face: <c>trim_blocks</c> and <c>lstrip_blocks</c>. Anything else fails with a <see cref="JinjaException"/> naming it.
/// </summary>
internal sealed class JinjaTemplate
{
    private readonly List<Node> _nodes;

    private JinjaTemplate(string source, List<Node> nodes)
    {
        Source = source;
        _nodes = nodes;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>Parses a template; throws <see cref="JinjaException"/> on syntax errors and unsupported constructs.</summary>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(source, Parser.Parse(source));
    }

    /// <summary>
    /// Renders with the given variables. Values may be null, bool, int/long, double, string, lists
    /// (<see cref="System.Collections.IEnumerable"/> of values) and string-keyed dictionaries.
    /// Throws <see cref="TemplateRaisedException"/> when the template calls <c>raise_exception</c>.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var context = variables.ToDictionary(kv => kv.Key, kv => Convert(kv.Value), StringComparer.Ordinal);
        return Interpreter.Render(_nodes, context);
    }

    private static object? Convert(object? value) => value switch
    {
        null or bool or long or double or string => value,
        int i => (long)i,
        float f => (double)f,
        System.Collections.IDictionary dict => dict.Keys.Cast<object>().ToDictionary(k => k.ToString()!, k => Convert(dict[k]), StringComparer.Ordinal),
        System.Collections.IEnumerable list => list.Cast<object?>().Select(Convert).ToList(),
        _ => throw new ArgumentException($"A template variable cannot be a {value.GetType().Name}."),
    };
}
