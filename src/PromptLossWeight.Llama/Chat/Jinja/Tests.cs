namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// The tests of <c>x is name</c>: defined, undefined, none, string, number, integer, float, boolean, true, false,
/// mapping, iterable, sequence, odd, even, divisibleby, equalto/eq/==, ne/!=, lower, upper, in. Any other test is
/// an error naming it.
/// </summary>
internal static class Tests
{
    public static bool Apply(string name, object? value, List<object?> args, int line)
    {
        object? Arg() => args.Count > 0 ? args[0] : throw new JinjaException($"the test '{name}' needs an argument.", line);
        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "string" => value is string,
            "number" => value is long or double,
            "integer" => value is long,
            "float" => value is double,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "mapping" => value is Dictionary<string, object?> or Namespace,
            "iterable" => value is string or List<object?> or Dictionary<string, object?>,
            "sequence" => value is string or List<object?> or Dictionary<string, object?>,
            "odd" => value is long n && n % 2 != 0,
            "even" => value is long m && m % 2 == 0,
            "divisibleby" => value is long d && Arg() is long k && k != 0 && d % k == 0,
            "equalto" or "eq" or "==" or "sameas" => Values.Equals(value, Arg()),
            "ne" or "!=" => !Values.Equals(value, Arg()),
            "lower" => value is string lo && lo == lo.ToLowerInvariant(),
            "upper" => value is string up && up == up.ToUpperInvariant(),
            "in" => Interpreter.Contains(Arg(), value, line),
            _ => throw new JinjaException($"the test '{name}' is not supported.", line),
        };
    }
}
