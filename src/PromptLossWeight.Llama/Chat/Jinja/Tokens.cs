using System.Globalization;
using System.Text;

namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>The kinds of tokens inside a tag.</summary>
internal enum TokenKind
{
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>A token inside a tag: a name, a literal or an operator/punctuation mark.</summary>
internal sealed record Token(TokenKind Kind, string Text, object? Value = null);

/// <summary>Splits the inside of a tag into tokens (names, string and number literals, operators).</summary>
internal static class Tokens
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"];

    public static List<Token> Read(string source, int line)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < source.Length)
        {
            char c = source[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < source.Length && (char.IsLetterOrDigit(source[i]) || source[i] == '_'))
                    i++;
                tokens.Add(new Token(TokenKind.Name, source[start..i]));
            }
            else if (char.IsAsciiDigit(c))
            {
                int start = i;
                while (i < source.Length && (char.IsAsciiDigit(source[i]) || source[i] == '_'))
                    i++;
                bool isFloat = i + 1 < source.Length && source[i] == '.' && char.IsAsciiDigit(source[i + 1]);
                if (isFloat)
                {
                    i++;
                    while (i < source.Length && char.IsAsciiDigit(source[i]))
                        i++;
                }
                string text = source[start..i].Replace("_", "");
                tokens.Add(isFloat
                    ? new Token(TokenKind.Float, text, double.Parse(text, CultureInfo.InvariantCulture))
                    : new Token(TokenKind.Integer, text, long.Parse(text, CultureInfo.InvariantCulture)));
            }
            else if (c is '\'' or '"')
            {
                i = ReadString(source, i, line, out string value);
                tokens.Add(new Token(TokenKind.String, value, value));
            }
            else
            {
                string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(source, i, o, 0, o.Length) == 0);
                if (op is null)
                    throw new JinjaException($"unexpected character '{c}' in '{source}'.", line);
                tokens.Add(new Token(TokenKind.Operator, op));
                i += op.Length;
            }
        }
        tokens.Add(new Token(TokenKind.End, "end of tag"));
        return tokens;
    }

    /// <summary>Reads a Python string literal with its escapes; returns the position after it.</summary>
    private static int ReadString(string source, int start, int line, out string value)
    {
        char quote = source[start];
        var text = new StringBuilder();
        int i = start + 1;
        while (i < source.Length && source[i] != quote)
        {
            if (source[i] == '\\' && i + 1 < source.Length)
            {
                char e = source[++i];
                switch (e)
                {
                    case 'n': text.Append('\n'); break;
                    case 't': text.Append('\t'); break;
                    case 'r': text.Append('\r'); break;
                    case '\\': text.Append('\\'); break;
                    case '\'': text.Append('\''); break;
                    case '"': text.Append('"'); break;
                    case 'u' when i + 4 < source.Length:
                        text.Append((char)int.Parse(source.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: text.Append('\\').Append(e); break;
                }
                i++;
            }
            else
            {
                text.Append(source[i++]);
            }
        }
        if (i >= source.Length)
            throw new JinjaException($"a string literal is never closed in '{source}'.", line);
        value = text.ToString();
        return i + 1;
    }
}
