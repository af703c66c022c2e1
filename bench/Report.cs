using System.Globalization;

namespace PromptLossWeight.Bench;

/// <summary>Prints the result lines (`ratio name value` / `value name value [unit]`) and notes (prefixed with #).</summary>
internal static class Report
{
    public static void Ratio(string name, double value) => Console.WriteLine($"ratio {name} {Format(value)}");

    public static void Value(string name, double value, string? unit = null) =>
        Console.WriteLine($"value {name} {Format(value)}{(unit is null ? "" : " " + unit)}");

    public static void Note(string text) => Console.WriteLine("# " + text);

    private static string Format(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
