using System.Text;

namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>The kinds of top-level template pieces.</summary>
internal enum ChunkKind
{
    Text,
    Output,
    Statement,
}

/// <summary>A piece of the template: literal text, an <c>{{ expression }}</c> or a <c>{% statement %}</c> (its inside).</summary>
internal sealed record Chunk(ChunkKind Kind, string Source, int Line);

/// <summary>
/// Cuts a template into text, output and statement chunks with Hugging Face's settings: <c>trim_blocks</c> (the
/// first newline after a statement or comment tag is dropped) and <c>lstrip_blocks</c> (spaces and tabs before a
/// statement or comment tag at the start of a line are dropped), plus the <c>-</c> markers that strip all whitespace
/// on that side and the <c>+</c> marker that keeps it. Comments are removed.
/// </summary>
internal static class Lexer
{
    public static List<Chunk> Split(string template)
    {
        var chunks = new List<Chunk>();
        var text = new StringBuilder();
        int position = 0, line = 1;
        bool trimNextNewline = false, stripNextWhitespace = false;
        while (position < template.Length)
        {
            int open = FindOpen(template, position);
            string literal = open < 0 ? template[position..] : template[position..open];
            bool lineStart = position == 0 || template[position - 1] == '\n';
            if (stripNextWhitespace)
            {
                literal = literal.TrimStart();
            }
            else if (trimNextNewline && literal.StartsWith('\n'))
            {
                literal = literal[1..];
                lineStart = true;
            }
            else if (trimNextNewline && literal.StartsWith("\r\n", StringComparison.Ordinal))
            {
                literal = literal[2..];
                lineStart = true;
            }
            trimNextNewline = stripNextWhitespace = false;
            if (open < 0)
            {
                text.Append(literal);
                break;
            }
            char kind = template[open + 1];
            char marker = open + 2 < template.Length ? template[open + 2] : '\0';
            if (marker == '-')
                literal = literal.TrimEnd();
            else if (kind != '{' && marker != '+')
                literal = StripLineIndent(literal, lineStart);
            text.Append(literal);

            string close = kind switch { '{' => "}}", '%' => "%}", _ => "#}" };
            int bodyStart = open + 2 + (marker is '-' or '+' ? 1 : 0);
            int end = template.IndexOf(close, bodyStart, StringComparison.Ordinal);
            if (end < 0)
                throw new JinjaException($"'{template.Substring(open, 2)}' is never closed with '{close}'.", line + Count(template, position, open));
            int tagLine = line + Count(template, position, open);
            bool stripAfter = end > bodyStart && template[end - 1] == '-';
            bool keepAfter = end > bodyStart && template[end - 1] == '+';
            string body = template[bodyStart..(stripAfter || keepAfter ? end - 1 : end)];
            if (kind != '#')
            {
                if (text.Length > 0)
                    chunks.Add(new Chunk(ChunkKind.Text, text.ToString(), tagLine));
                text.Clear();
                chunks.Add(new Chunk(kind == '{' ? ChunkKind.Output : ChunkKind.Statement, body.Trim(), tagLine));
            }
            line = tagLine + Count(template, open, end + 2);
            position = end + 2;
            stripNextWhitespace = stripAfter;
            trimNextNewline = kind != '{' && !keepAfter;
        }
        if (text.Length > 0)
            chunks.Add(new Chunk(ChunkKind.Text, text.ToString(), line));
        return chunks;
    }

    /// <summary>lstrip_blocks: drops spaces and tabs between the last newline and the tag when nothing else is there.</summary>
    private static string StripLineIndent(string literal, bool startsLine)
    {
        int i = literal.Length;
        while (i > 0 && literal[i - 1] is ' ' or '\t')
            i--;
        if (i == 0 ? startsLine : literal[i - 1] == '\n')
            return literal[..i];
        return literal;
    }

    private static int FindOpen(string template, int from)
    {
        for (int i = template.IndexOf('{', from); i >= 0 && i + 1 < template.Length; i = template.IndexOf('{', i + 1))
        {
            if (template[i + 1] is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    private static int Count(string text, int from, int to)
    {
        int n = 0;
        for (int i = from; i < to && i < text.Length; i++)
        {
            if (text[i] == '\n')
                n++;
        }
        return n;
    }
}
