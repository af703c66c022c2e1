namespace PromptLossWeight.Llama.Chat.Jinja;

/// <summary>The global functions chat templates call: <c>raise_exception</c>, <c>namespace</c> and <c>range</c>.</summary>
internal static class Globals
{
    public static Dictionary<string, object?> Create() => new(StringComparer.Ordinal)
    {
        ["raise_exception"] = (Callable)((args, _) => throw new TemplateRaisedException(args.Count > 0 ? Values.Str(args[0]) : "raise_exception() was called.")),
        ["namespace"] = (Callable)((args, keywords) =>
        {
            var ns = new Namespace();
            foreach (var arg in args.OfType<Dictionary<string, object?>>())
                foreach (var (key, value) in arg)
                    ns.Attributes[key] = value;
            foreach (var (key, value) in keywords)
                ns.Attributes[key] = value;
            return ns;
        }),
        ["range"] = (Callable)((args, _) =>
        {
            long start = 0, stop, step = 1;
            if (args.Count == 1)
                stop = (long)args[0]!;
            else
            {
                start = (long)args[0]!;
                stop = (long)args[1]!;
                if (args.Count > 2) step = (long)args[2]!;
            }
            if (step == 0)
                throw new JinjaException("range() step must not be zero.");
            var list = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step)
                list.Add(i);
            return list;
        }),
    };
}
