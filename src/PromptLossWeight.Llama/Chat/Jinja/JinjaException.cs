namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// An error in a chat template: a syntax error, a construct outside the supported Jinja subset (the message names
/// it), or a failure while rendering. <see cref="Line"/> is the template line when known.
/// </summary>
public class JinjaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JinjaException(string message, int line = 0)
        : base(line > 0 ? $"line {line}: {message}" : message)
    {
        Line = line;
    }

    /// <summary>The 1-based template line, or 0 when unknown.</summary>
    public int Line { get; }
}

/// <summary>The template called <c>raise_exception(message)</c>: the conversation breaks the template's rules.</summary>
public sealed class TemplateRaisedException(string message) : JinjaException(message);
