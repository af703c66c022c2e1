using System.Text;

namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>
/// Runs a parsed template: output is appended as Python's <c>str()</c> of each value, <c>for</c> loops get their own
/// scope per iteration (a <c>set</c> inside a loop does not leak out; use a namespace) with the <c>loop</c> object
/// (index, index0, first, last, length, revindex, revindex0, previtem, nextitem).
/// </summary>
internal sealed class Interpreter
{
    private readonly List<Dictionary<string, object?>> _scopes;
    private readonly StringBuilder _output = new();

    private sealed class BreakSignal : Exception;

    private sealed class ContinueSignal : Exception;

    private Interpreter(Dictionary<string, object?> context)
    {
        _scopes = [Globals.Create(), context];
    }

    public static string Render(List<Node> nodes, Dictionary<string, object?> context)
    {
        var interpreter = new Interpreter(context);
        interpreter.Execute(nodes);
        return interpreter._output.ToString();
    }

    private void Execute(List<Node> nodes)
    {
        foreach (var node in nodes)
            Execute(node);
    }

    private void Execute(Node node)
    {
        switch (node)
        {
            case TextNode text:
                _output.Append(text.Text);
                break;
            case OutputNode output:
                _output.Append(Values.Str(Evaluate(output.Value)));
                break;
            case IfNode branch:
                foreach (var (condition, body) in branch.Branches)
                {
                    if (Values.Truthy(Evaluate(condition)))
                    {
                        Execute(body);
                        return;
                    }
                }
                if (branch.Else is not null)
                    Execute(branch.Else);
                break;
            case ForNode loop:
                ExecuteFor(loop);
                break;
            case SetNode set:
                var value = Evaluate(set.Value);
                if (set.Attribute is null)
                {
                    _scopes[^1][set.Name] = value;
                }
                else if (Lookup(set.Name) is Namespace ns)
                {
                    ns.Attributes[set.Attribute] = value;
                }
                else
                {
                    throw new JinjaException($"'{set.Name}' is not a namespace, so '{set.Name}.{set.Attribute}' cannot be set.", set.Line);
                }
                break;
            case LoopControlNode control:
                throw control.IsBreak ? new BreakSignal() : new ContinueSignal();
        }
    }

    private void ExecuteFor(ForNode loop)
    {
        var items = Filters.Sequence(Evaluate(loop.Iterable), loop.Line);
        if (loop.Filter is not null)
        {
            items = items.Where(item =>
            {
                _scopes.Add(Bind(loop, item));
                try { return Values.Truthy(Evaluate(loop.Filter)); }
                finally { _scopes.RemoveAt(_scopes.Count - 1); }
            }).ToList();
        }
        for (int i = 0; i < items.Count; i++)
        {
            var scope = Bind(loop, items[i]);
            scope["loop"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index0"] = (long)i,
                ["index"] = (long)(i + 1),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["revindex"] = (long)(items.Count - i),
                ["revindex0"] = (long)(items.Count - i - 1),
                ["previtem"] = i > 0 ? items[i - 1] : new Undefined("loop.previtem"),
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : new Undefined("loop.nextitem"),
            };
            _scopes.Add(scope);
            try
            {
                Execute(loop.Body);
            }
            catch (ContinueSignal)
            {
            }
            catch (BreakSignal)
            {
                break;
            }
            finally
            {
                _scopes.RemoveAt(_scopes.Count - 1);
            }
        }
        if (items.Count == 0 && loop.Else is not null)
            Execute(loop.Else);
    }

    private static Dictionary<string, object?> Bind(ForNode loop, object? item)
    {
        var scope = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (loop.Targets.Count == 1)
        {
            scope[loop.Targets[0]] = item;
            return scope;
        }
        if (item is not List<object?> tuple || tuple.Count != loop.Targets.Count)
            throw new JinjaException($"cannot unpack a {Values.TypeName(item)} into {loop.Targets.Count} loop variables.", loop.Line);
        for (int i = 0; i < tuple.Count; i++)
            scope[loop.Targets[i]] = tuple[i];
        return scope;
    }

    private object? Lookup(string name)
    {
        for (int i = _scopes.Count - 1; i >= 0; i--)
        {
            if (_scopes[i].TryGetValue(name, out var value))
                return value;
        }
        return new Undefined(name);
    }

    private object? Evaluate(Expr expr)
    {
        switch (expr)
        {
            case Literal literal:
                return literal.Value;
            case Variable variable:
                return Lookup(variable.Name);
            case ListExpr list:
                return list.IsTuple ? new TupleValue(list.Items.Select(Evaluate)) : list.Items.Select(Evaluate).ToList();
            case DictExpr dict:
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                    result[Evaluate(key) as string ?? throw new JinjaException("dict keys must be strings.", dict.Line)] = Evaluate(value);
                return result;
            case Attribute attribute:
                return GetAttribute(Evaluate(attribute.Target), attribute.Name, attribute.Line);
            case Index index:
                return GetItem(Evaluate(index.Target), Evaluate(index.Key), index.Line);
            case Slice slice:
                return SliceOf(Evaluate(slice.Target), slice);
            case Call call:
            {
                var target = Evaluate(call.Target);
                if (target is not Callable function)
                    throw new JinjaException($"{Describe(call.Target)} is not a function ({Values.TypeName(target)}).", call.Line);
                var keywords = call.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value), StringComparer.Ordinal);
                return function(call.Arguments.Select(Evaluate).ToList(), keywords);
            }
            case Filter filter:
                return Filters.Apply(filter.Name, Evaluate(filter.Target), filter.Arguments.Select(Evaluate).ToList(),
                    filter.Keywords.ToDictionary(k => k.Name, k => Evaluate(k.Value), StringComparer.Ordinal), filter.Line);
            case Test test:
                return Tests.Apply(test.Name, Evaluate(test.Target), test.Arguments.Select(Evaluate).ToList(), test.Line) != test.Negated;
            case Unary unary:
            {
                var operand = Evaluate(unary.Operand);
                return unary.Operator switch
                {
                    "not" => !Values.Truthy(operand),
                    "-" => operand is long n ? (object)(-n) : -Values.ToDouble(operand),
                    _ => operand,
                };
            }
            case Conditional conditional:
                return Values.Truthy(Evaluate(conditional.Condition))
                    ? Evaluate(conditional.Then)
                    : conditional.Else is null ? new Undefined("else") : Evaluate(conditional.Else);
            case Binary binary:
                return EvaluateBinary(binary);
            default:
                throw new JinjaException($"cannot evaluate {expr.GetType().Name}.", expr.Line);
        }
    }

    private static string Describe(Expr expr) => expr switch
    {
        Variable v => $"'{v.Name}'",
        Attribute a => $"'{a.Name}'",
        _ => "the called value",
    };

    private object? EvaluateBinary(Binary binary)
    {
        if (binary.Operator == "and")
        {
            var left = Evaluate(binary.Left);
            return Values.Truthy(left) ? Evaluate(binary.Right) : left;
        }
        if (binary.Operator == "or")
        {
            var left = Evaluate(binary.Left);
            return Values.Truthy(left) ? left : Evaluate(binary.Right);
        }
        var a = Evaluate(binary.Left);
        var b = Evaluate(binary.Right);
        int line = binary.Line;
        switch (binary.Operator)
        {
            case "==": return Values.Equals(a, b);
            case "!=": return !Values.Equals(a, b);
            case "<": return Values.Compare(a, b) < 0;
            case ">": return Values.Compare(a, b) > 0;
            case "<=": return Values.Compare(a, b) <= 0;
            case ">=": return Values.Compare(a, b) >= 0;
            case "in": return Contains(b, a, line);
            case "not in": return !Contains(b, a, line);
            case "~": return Values.Str(a) + Values.Str(b);
        }
        if (a is Undefined || b is Undefined)
            throw new JinjaException($"{Values.TypeName(a is Undefined ? a : b)} used with '{binary.Operator}'.", line);
        switch (binary.Operator, a, b)
        {
            case ("+", string x, string y): return x + y;
            case ("+", List<object?> x, List<object?> y): return x.Concat(y).ToList();
            case ("*", string x, long n): return string.Concat(Enumerable.Repeat(x, (int)Math.Max(0, n)));
            case ("*", List<object?> x, long n): return Enumerable.Repeat(x, (int)Math.Max(0, n)).SelectMany(l => l).ToList();
        }
        if (!Values.IsNumber(a) || !Values.IsNumber(b))
            throw new JinjaException($"unsupported operand types for {binary.Operator}: {Values.TypeName(a)} and {Values.TypeName(b)}.", line);
        bool integers = a is long or bool && b is long or bool;
        double p = Values.ToDouble(a), q = Values.ToDouble(b);
        return binary.Operator switch
        {
            "+" => integers ? (object)((long)p + (long)q) : p + q,
            "-" => integers ? (object)((long)p - (long)q) : p - q,
            "*" => integers ? (object)((long)p * (long)q) : p * q,
            "/" => q == 0 ? throw new JinjaException("division by zero.", line) : p / q,
            "//" => q == 0 ? throw new JinjaException("division by zero.", line) : integers ? (object)(long)Math.Floor(p / q) : Math.Floor(p / q),
            "%" => q == 0 ? throw new JinjaException("modulo by zero.", line) : integers ? (object)(long)(p - q * Math.Floor(p / q)) : p - q * Math.Floor(p / q),
            "**" => integers && q >= 0 ? (object)(long)Math.Pow(p, q) : Math.Pow(p, q),
            _ => throw new JinjaException($"the operator '{binary.Operator}' is not supported.", line),
        };
    }

    public static bool Contains(object? container, object? item, int line) => container switch
    {
        string s => item is string part ? s.Contains(part, StringComparison.Ordinal) : throw new JinjaException($"'in <string>' needs a string, not a {Values.TypeName(item)}.", line),
        List<object?> list => list.Any(x => Values.Equals(x, item)),
        Dictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        Undefined => false,
        _ => throw new JinjaException($"'in' needs a string, list or dict, not a {Values.TypeName(container)}.", line),
    };

    /// <summary>Jinja's <c>a.b</c>: a method first, then a dict key, a namespace or loop attribute; missing is undefined.</summary>
    public static object? GetAttribute(object? target, string name, int line)
    {
        if (Methods.Bind(target, name, line) is Callable method)
            return method;
        return target switch
        {
            Dictionary<string, object?> dict when dict.TryGetValue(name, out var value) => value,
            Namespace ns when ns.Attributes.TryGetValue(name, out var value) => value,
            _ => new Undefined(name),
        };
    }

    private static object? GetItem(object? target, object? key, int line)
    {
        switch (target, key)
        {
            case (Dictionary<string, object?> dict, string name):
                return dict.TryGetValue(name, out var value) ? value : GetAttribute(target, name, line);
            case (List<object?> list, long i):
                long at = i < 0 ? list.Count + i : i;
                return at >= 0 && at < list.Count ? list[(int)at] : new Undefined($"[{i}]");
            case (string s, long i):
                long c = i < 0 ? s.Length + i : i;
                return c >= 0 && c < s.Length ? s[(int)c].ToString() : new Undefined($"[{i}]");
            case (_, string attribute):
                return GetAttribute(target, attribute, line);
            case (Undefined u, _):
                throw new JinjaException($"{Values.TypeName(u)} has no item {Values.Repr(key)}.", line);
            default:
                return new Undefined($"[{Values.Repr(key)}]");
        }
    }

    private object? SliceOf(object? target, Slice slice)
    {
        long? Bound(Expr? e) => e is null ? null : Evaluate(e) switch
        {
            long n => n,
            null => null,
            var other => throw new JinjaException($"slice bounds must be integers, not {Values.TypeName(other)}.", slice.Line),
        };
        long? start = Bound(slice.Start), stop = Bound(slice.Stop), stepValue = Bound(slice.Step);
        long step = stepValue ?? 1;
        if (step == 0)
            throw new JinjaException("slice step cannot be zero.", slice.Line);
        var items = target switch
        {
            List<object?> list => list,
            string s => s.Select(c => (object?)c.ToString()).ToList(),
            _ => throw new JinjaException($"cannot slice a {Values.TypeName(target)}.", slice.Line),
        };
        long count = items.Count;
        long Clamp(long? value, long fallback, long low, long high)
        {
            if (value is not long v) return fallback;
            if (v < 0) v += count;
            return Math.Clamp(v, low, high);
        }
        var picked = new List<object?>();
        if (step > 0)
        {
            for (long i = Clamp(start, 0, 0, count), end = Clamp(stop, count, 0, count); i < end; i += step)
                picked.Add(items[(int)i]);
        }
        else
        {
            for (long i = Clamp(start, count - 1, -1, count - 1), end = Clamp(stop, -1, -1, count - 1); i > end; i += step)
                picked.Add(items[(int)i]);
        }
        return target is string ? string.Concat(picked.Select(p => (string)p!)) : picked;
    }
}
