using System.CommandLine;
using System.Reflection;
using PromptLossWeight.Training;

namespace PromptLossWeight.Samples;

/// <summary>
/// How the sample command lines end a failure: one line on standard error, "error: " and the cause (the file, record,
/// option or tensor the exception names), and exit code 1. <c>--verbose</c> writes the full exception, stack traces
/// included, before that line, so the last line is always the one-line cause.
/// </summary>
internal static class CommandLineFailure
{
    /// <summary>The exit code of every failure (bad options, bad data, I/O, training).</summary>
    public const int ExitCode = 1;

    /// <summary>The <c>--verbose</c> option both samples accept.</summary>
    public static Option<bool> VerboseOption() =>
        new("--verbose") { Description = "On failure, also print the full exception with its stack trace (and, where there is a log, more of it)." };

    /// <summary>Parses <paramref name="args"/>; a parse error ends in one line (all errors joined) and exit code 1, anything else is invoked.</summary>
    public static int ParseAndInvoke(RootCommand root, string[] args, TextWriter error)
    {
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count == 0) return parsed.Invoke();
        error.WriteLine($"error: {OneLine(string.Join("; ", parsed.Errors.Select(e => e.Message)))} (see --help)");
        return ExitCode;
    }

    /// <summary>Runs <paramref name="body"/>; any exception it throws ends in one line on <paramref name="error"/> and exit code 1.</summary>
    public static int Run(Func<int> body, bool verbose, TextWriter error)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Report(e, verbose, error);
        }
    }

    /// <summary>Writes <paramref name="e"/> (the stack too when <paramref name="verbose"/>), then its one-line cause; returns 1.</summary>
    public static int Report(Exception e, bool verbose, TextWriter error)
    {
        if (verbose) error.WriteLine(e.ToString());
        error.WriteLine($"error: {Describe(e)}");
        return ExitCode;
    }

    /// <summary>
    /// The cause of <paramref name="e"/> in one line. Wrappers (<see cref="AggregateException"/> from parallel runs,
    /// <see cref="TargetInvocationException"/>, <see cref="TypeInitializationException"/>) are looked through; several
    /// distinct causes give the first and a count of the others, identical ones are said once with how many there were.
    /// </summary>
    public static string Describe(Exception e)
    {
        List<Exception> causes = Causes(e).ToList();
        var distinct = causes.GroupBy(c => (c.GetType(), c.Message)).Select(g => (First: g.First(), Count: g.Count())).ToList();
        string first = OneCause(distinct[0].First);
        if (distinct.Count > 1)
            return $"{first} (and {causes.Count - distinct[0].Count} more failures with other causes; --verbose shows them all)";
        return causes.Count > 1 ? $"{first} ({causes.Count} parallel runs failed the same way)" : first;
    }

    private static IEnumerable<Exception> Causes(Exception e)
    {
        switch (e)
        {
            case AggregateException aggregate:
                foreach (Exception inner in aggregate.Flatten().InnerExceptions)
                    foreach (Exception cause in Causes(inner))
                        yield return cause;
                break;
            case TargetInvocationException or TypeInitializationException when e.InnerException is not null:
                foreach (Exception cause in Causes(e.InnerException)) yield return cause;
                break;
            default:
                yield return e;
                break;
        }
    }

    /// <summary>The message of one cause; kinds whose message alone could puzzle get a word of context.</summary>
    private static string OneCause(Exception e) => e switch
    {
        NonFiniteTrainingException => $"training stopped: {OneLine(e.Message)}",
        UnauthorizedAccessException => $"permission denied: {OneLine(e.Message)}",
        OutOfMemoryException => $"out of memory: {OneLine(e.Message)} (try a smaller --batch-size or --max-length)",
        ArgumentException { ParamName: string name } => OneLine(e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)),
        IOException or InvalidDataException or FormatException or ArgumentException or InvalidOperationException or NotSupportedException
            or PromptLossWeight.Llama.Checkpoints.CheckpointMismatchException or PromptLossWeight.Llama.Checkpoints.NonFiniteWeightsException
            => OneLine(e.Message),
        _ => $"{e.GetType().Name}: {OneLine(e.Message)}",
    };

    /// <summary>Collapses line breaks (multi-line messages, e.g. from the data readers' inner parsers) into one line.</summary>
    private static string OneLine(string message) =>
        string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
