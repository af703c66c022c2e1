namespace PromptLossWeight.Masking;

/// <summary>
/// The one rule that marks a turn's <see cref="ChatTurn.Context"/> in text, for <see cref="MaskBuilder.BuildChat"/> and
/// for the chat templates of PromptLossWeight.Llama: the text is cut around every occurrence of each context, earliest
/// first (at the same position, the context listed first), and each piece is tokenized on its own. Public so that a
/// chat template of your own marks context the same way.
/// </summary>
public static class ContextSplit
{
    /// <summary>The pieces of <paramref name="text"/>, in order, none empty; a context piece carries the context it matched.</summary>
    public static IEnumerable<(string Text, string? Context)> Around(string text, IReadOnlyList<string> contexts)
    {
        while (text.Length > 0)
        {
            int at = -1;
            string? context = null;
            foreach (string c in contexts)
            {
                int i = c.Length == 0 ? -1 : text.IndexOf(c, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at)) (at, context) = (i, c);
            }
            if (context is null) break;
            if (at > 0) yield return (text[..at], null);
            yield return (context, context);
            text = text[(at + context.Length)..];
        }
        if (text.Length > 0) yield return (text, null);
    }
}
