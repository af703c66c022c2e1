namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>An expression of the template.</summary>
internal abstract record Expr(int Line);

internal sealed record Literal(object? Value, int Line) : Expr(Line);

internal sealed record Variable(string Name, int Line) : Expr(Line);

internal sealed record ListExpr(List<Expr> Items, int Line) : Expr(Line)
{
    /// <summary>True for a parenthesized tuple, which renders as (a, b).</summary>
    public bool IsTuple { get; init; }
}

internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);

internal sealed record Attribute(Expr Target, string Name, int Line) : Expr(Line);

internal sealed record Index(Expr Target, Expr Key, int Line) : Expr(Line);

internal sealed record Slice(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);

internal sealed record Call(Expr Target, List<Expr> Arguments, List<(string Name, Expr Value)> Keywords, int Line) : Expr(Line);

internal sealed record Filter(Expr Target, string Name, List<Expr> Arguments, List<(string Name, Expr Value)> Keywords, int Line) : Expr(Line);

internal sealed record Test(Expr Target, string Name, bool Negated, List<Expr> Arguments, int Line) : Expr(Line);

internal sealed record Unary(string Operator, Expr Operand, int Line) : Expr(Line);

internal sealed record Binary(string Operator, Expr Left, Expr Right, int Line) : Expr(Line);

internal sealed record Conditional(Expr Condition, Expr Then, Expr? Else, int Line) : Expr(Line);

/// <summary>A statement of the template.</summary>
internal abstract record Node(int Line);

internal sealed record TextNode(string Text, int Line) : Node(Line);

internal sealed record OutputNode(Expr Value, int Line) : Node(Line);

internal sealed record IfNode(List<(Expr Condition, List<Node> Body)> Branches, List<Node>? Else, int Line) : Node(Line);

internal sealed record ForNode(List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node>? Else, int Line) : Node(Line);

/// <summary><c>{% set name = value %}</c> or <c>{% set ns.attribute = value %}</c>.</summary>
internal sealed record SetNode(string Name, string? Attribute, Expr Value, int Line) : Node(Line);

/// <summary><c>{% break %}</c> or <c>{% continue %}</c>.</summary>
internal sealed record LoopControlNode(bool IsBreak, int Line) : Node(Line);
