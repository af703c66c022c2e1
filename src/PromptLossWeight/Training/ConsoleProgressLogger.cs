using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Training;

/// <summary>
/// The Trainer's logger when none is given (and <see cref="TrainerOptions.ConsoleProgress"/> is on): one plain line per
/// message — start, each logging step, each evaluation, checkpoints, the end — on standard output, and warnings and
/// errors on standard error with a "warning:" / "error:" prefix. Debug and trace messages are dropped.
/// </summary>
internal sealed class ConsoleProgressLogger(TextWriter output, TextWriter error) : ILogger
{
    private static readonly object Gate = new(); // lines of runs in parallel threads never interleave

    /// <summary>A logger on the process's console.</summary>
    public static ConsoleProgressLogger ForConsole() => new(Console.Out, Console.Error);

    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => logLevel is >= LogLevel.Information and < LogLevel.None;

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        string message = formatter(state, exception);
        if (exception is not null) message += $" ({exception.GetType().Name}: {exception.Message})";
        lock (Gate)
        {
            if (logLevel == LogLevel.Information)
            {
                output.WriteLine(message);
                output.Flush();
            }
            else
            {
                error.WriteLine((logLevel == LogLevel.Warning ? "warning: " : "error: ") + message);
                error.Flush();
            }
        }
    }
}
