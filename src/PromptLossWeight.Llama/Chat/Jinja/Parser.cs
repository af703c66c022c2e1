namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// Builds the statement tree of a template from its chunks: text, output, <c>if/elif/else</c>, <c>for</c> (with
/// tuple targets, an <c>if</c> filter and <c>else</c>), <c>set</c> (a name or a namespace attribute),
/// <c>break</c>/<c>continue</c>. Any other tag (macro, call, block, include, filter, raw, generation, ...) is
/// rejected with an error naming it.
/// </summary>
internal sealed class Parser
{
    private readonly List<Chunk> _chunks;
    private int _position;

    private Parser(List<Chunk> chunks) => _chunks = chunks;

    public static List<Node> Parse(string template)
    {
        var parser = new Parser(Lexer.Split(template));
        var body = parser.ParseBody(out string? end);
        if (end is not null)
            throw new JinjaException($"'{{% {end} %}}' without an opening tag.", parser._chunks[parser._position - 1].Line);
        return body;
    }

    /// <summary>Parses nodes until a closing tag (returned in <paramref name="end"/>, or null at the end of the template).</summary>
    private List<Node> ParseBody(out string? end, params string[] closers)
    {
        var nodes = new List<Node>();
        while (_position < _chunks.Count)
        {
            var chunk = _chunks[_position++];
            switch (chunk.Kind)
            {
                case ChunkKind.Text:
                    nodes.Add(new TextNode(chunk.Source, chunk.Line));
                    break;
                case ChunkKind.Output:
                {
                    var expression = Expression(chunk);
                    nodes.Add(new OutputNode(expression.Parse(), chunk.Line));
                    expression.ExpectEnd();
                    break;
                }
                default:
                {
                    var tokens = Tokens.Read(chunk.Source, chunk.Line);
                    string keyword = tokens[0].Kind == TokenKind.Name ? tokens[0].Text : chunk.Source;
                    if (closers.Contains(keyword))
                    {
                        end = keyword;
                        return nodes;
                    }
                    nodes.Add(Statement(keyword, new ExpressionParser(tokens, chunk.Line), chunk));
                    break;
                }
            }
        }
        end = null;
        if (closers.Length > 0)
            throw new JinjaException($"the template ends before '{{% {closers[^1]} %}}'.");
        return nodes;
    }

    private static ExpressionParser Expression(Chunk chunk) => new(Tokens.Read(chunk.Source, chunk.Line), chunk.Line);

    private Node Statement(string keyword, ExpressionParser p, Chunk chunk)
    {
        p.Next();
        switch (keyword)
        {
            case "if":
            {
                var branches = new List<(Expr, List<Node>)>();
                var condition = p.Parse();
                p.ExpectEnd();
                List<Node>? otherwise = null;
                while (true)
                {
                    var body = ParseBody(out string? end, "elif", "else", "endif");
                    branches.Add((condition, body));
                    if (end == "endif")
                        break;
                    var closing = new ExpressionParser(Tokens.Read(_chunks[_position - 1].Source, chunk.Line), chunk.Line);
                    closing.Next();
                    if (end == "else")
                    {
                        closing.ExpectEnd();
                        otherwise = ParseBody(out _, "endif");
                        break;
                    }
                    condition = closing.Parse();
                    closing.ExpectEnd();
                }
                return new IfNode(branches, otherwise, chunk.Line);
            }
            case "for":
            {
                var targets = new List<string> { p.ExpectName() };
                while (p.Accept(","))
                    targets.Add(p.ExpectName());
                p.Expect("in");
                var iterable = p.Parse(allowConditional: false);
                Expr? filter = p.Accept("if") ? p.Parse(allowConditional: false) : null;
                if (p.IsName("recursive"))
                    throw new JinjaException("the construct 'for ... recursive' is not supported.", chunk.Line);
                p.ExpectEnd();
                var body = ParseBody(out string? end, "else", "endfor");
                var otherwise = end == "else" ? ParseBody(out _, "endfor") : null;
                return new ForNode(targets, iterable, filter, body, otherwise, chunk.Line);
            }
            case "set":
            {
                string name = p.ExpectName();
                string? attribute = p.Accept(".") ? p.ExpectName() : null;
                if (p.AtEnd)
                    throw new JinjaException("the construct '{% set %}...{% endset %}' (block set) is not supported.", chunk.Line);
                if (p.IsOperator(","))
                    throw new JinjaException("the construct 'set a, b = ...' (tuple assignment) is not supported.", chunk.Line);
                p.Expect("=");
                var value = p.Parse();
                p.ExpectEnd();
                return new SetNode(name, attribute, value, chunk.Line);
            }
            case "break":
            case "continue":
                p.ExpectEnd();
                return new LoopControlNode(keyword == "break", chunk.Line);
            default:
                throw new JinjaException($"the construct '{{% {keyword} %}}' is not supported (supported tags: if/elif/else, for, set, break, continue).", chunk.Line);
        }
    }
}
