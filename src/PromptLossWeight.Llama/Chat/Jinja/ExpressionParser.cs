namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// Parses the expressions of a tag with Jinja's precedence: conditional (<c>a if c else b</c>), <c>or</c>,
/// <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary minus, then
/// filters (<c>|</c>) and tests (<c>is</c>) on a primary with its attributes, subscripts, slices and calls.
/// </summary>
internal sealed class ExpressionParser(List<Token> tokens, int line)
{
    private int _position;

    public Token Peek => tokens[_position];

    public bool AtEnd => Peek.Kind == TokenKind.End;

    public Token Next() => tokens[_position++];

    public bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Text == name;

    public bool IsOperator(string op) => Peek.Kind == TokenKind.Operator && Peek.Text == op;

    public bool Accept(string text)
    {
        if ((Peek.Kind == TokenKind.Name || Peek.Kind == TokenKind.Operator) && Peek.Text == text)
        {
            _position++;
            return true;
        }
        return false;
    }

    public void Expect(string text)
    {
        if (!Accept(text))
            throw new JinjaException($"expected '{text}' but found '{Peek.Text}'.", line);
    }

    public string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name)
            throw new JinjaException($"expected a name but found '{Peek.Text}'.", line);
        return Next().Text;
    }

    public void ExpectEnd()
    {
        if (!AtEnd)
            throw new JinjaException($"unexpected '{Peek.Text}' at the end of the tag.", line);
    }

    public Expr Parse(bool allowConditional = true)
    {
        var value = ParseOr();
        if (allowConditional && IsName("if"))
        {
            Next();
            var condition = ParseOr();
            Expr? otherwise = Accept("else") ? Parse() : null;
            return new Conditional(condition, value, otherwise, line);
        }
        return value;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Accept("or"))
            left = new Binary("or", left, ParseAnd(), line);
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Accept("and"))
            left = new Binary("and", left, ParseNot(), line);
        return left;
    }

    private Expr ParseNot() => Accept("not") ? new Unary("not", ParseNot(), line) : ParseCompare();

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        while (true)
        {
            if (Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                string op = Next().Text;
                left = new Binary(op, left, ParseMath1(), line);
            }
            else if (Accept("in"))
            {
                left = new Binary("in", left, ParseMath1(), line);
            }
            else if (IsName("not") && tokens[_position + 1] is { Kind: TokenKind.Name, Text: "in" })
            {
                _position += 2;
                left = new Binary("not in", left, ParseMath1(), line);
            }
            else
            {
                return left;
            }
        }
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (IsOperator("+") || IsOperator("-"))
        {
            string op = Next().Text;
            left = new Binary(op, left, ParseConcat(), line);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Accept("~"))
            left = new Binary("~", left, ParseMath2(), line);
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (IsOperator("*") || IsOperator("/") || IsOperator("//") || IsOperator("%"))
        {
            string op = Next().Text;
            left = new Binary(op, left, ParsePow(), line);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary();
        while (Accept("**"))
            left = new Binary("**", left, ParseUnary(), line);
        return left;
    }

    /// <summary>A unary minus binds tighter than filters: <c>-4 | abs</c> is <c>(-4) | abs</c>, as in Jinja.</summary>
    private Expr ParseUnary(bool withFilters = true)
    {
        Expr value;
        if (IsOperator("-") || IsOperator("+"))
        {
            string op = Next().Text;
            value = new Unary(op, ParseUnary(withFilters: false), line);
        }
        else
        {
            value = ParsePostfix(ParsePrimary());
        }
        return withFilters ? ParseFilters(value) : value;
    }

    private Expr ParseFilters(Expr value)
    {
        while (true)
        {
            if (Accept("|"))
            {
                string name = ExpectName();
                var (arguments, keywords) = IsOperator("(") ? ParseArguments() : ([], []);
                value = new Filter(value, name, arguments, keywords, line);
            }
            else if (Accept("is"))
            {
                bool negated = Accept("not");
                string name = ExpectName();
                var arguments = new List<Expr>();
                if (IsOperator("("))
                    arguments = ParseArguments().Arguments;
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float || (Peek.Kind == TokenKind.Name && Peek.Text is not ("and" or "or" or "else" or "if" or "not" or "in")))
                    arguments = [ParsePostfix(ParsePrimary())];
                value = new Test(value, name, negated, arguments, line);
            }
            else
            {
                return value;
            }
        }
    }

    private Expr ParsePostfix(Expr value)
    {
        while (true)
        {
            if (Accept("."))
            {
                value = new Attribute(value, ExpectName(), line);
            }
            else if (Accept("["))
            {
                value = ParseSubscript(value);
            }
            else if (IsOperator("("))
            {
                var (arguments, keywords) = ParseArguments();
                value = new Call(value, arguments, keywords, line);
            }
            else
            {
                return value;
            }
        }
    }

    private Expr ParseSubscript(Expr target)
    {
        Expr? start = IsOperator(":") ? null : Parse();
        if (Accept("]"))
            return new Index(target, start!, line);
        Expect(":");
        Expr? stop = IsOperator(":") || IsOperator("]") ? null : Parse();
        Expr? step = null;
        if (Accept(":") && !IsOperator("]"))
            step = Parse();
        Expect("]");
        return new Slice(target, start, stop, step, line);
    }

    private (List<Expr> Arguments, List<(string, Expr)> Keywords) ParseArguments()
    {
        Expect("(");
        var arguments = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!Accept(")"))
        {
            if (arguments.Count + keywords.Count > 0)
                Expect(",");
            if (Accept(")"))
                break;
            if (Peek.Kind == TokenKind.Name && tokens[_position + 1] is { Kind: TokenKind.Operator, Text: "=" })
            {
                string name = Next().Text;
                Next();
                keywords.Add((name, Parse()));
            }
            else
            {
                arguments.Add(Parse());
            }
        }
        return (arguments, keywords);
    }

    private Expr ParsePrimary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.String:
                string text = (string)token.Value!;
                while (Peek.Kind == TokenKind.String)
                    text += (string)Next().Value!;
                return new Literal(text, line);
            case TokenKind.Integer:
            case TokenKind.Float:
                return new Literal(token.Value, line);
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new Literal(true, line),
                    "false" or "False" => new Literal(false, line),
                    "none" or "None" => new Literal(null, line),
                    _ => new Variable(token.Text, line),
                };
            case TokenKind.Operator when token.Text == "(":
            {
                var value = Parse();
                if (IsOperator(","))
                {
                    var items = new List<Expr> { value };
                    while (Accept(",") && !IsOperator(")"))
                        items.Add(Parse());
                    value = new ListExpr(items, line) { IsTuple = true };
                }
                Expect(")");
                return value;
            }
            case TokenKind.Operator when token.Text == "[":
            {
                var items = new List<Expr>();
                while (!Accept("]"))
                {
                    if (items.Count > 0)
                        Expect(",");
                    if (Accept("]"))
                        break;
                    items.Add(Parse());
                }
                return new ListExpr(items, line);
            }
            case TokenKind.Operator when token.Text == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!Accept("}"))
                {
                    if (items.Count > 0)
                        Expect(",");
                    if (Accept("}"))
                        break;
                    var key = Parse();
                    Expect(":");
                    items.Add((key, Parse()));
                }
                return new DictExpr(items, line);
            }
            default:
                throw new JinjaException($"unexpected '{token.Text}' in an expression.", line);
        }
    }
}
