using PromptLossWeight.Llama.Chat.Jinja;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// A model's own Jinja <c>chat_template</c>, rendered by <see cref="JinjaTemplate"/> exactly as the model's
/// tokenizer_config.json says, and cut into spans for the masks. To know which characters come from which message,
/// the template is rendered twice: once with the messages, once with each non-empty content replaced by a unique
/// marker; the text around the markers is the template's own (prompt), and each message's rendered content (as the
/// template left it, e.g. trimmed) sits between. Message content has its turn's role; the template text before a
/// message has that message's prompt role (an assistant header is user); after a message, the template text up to and
/// including the first stop token (end of turn or EOS) is that message's end of turn, with its role (so an assistant's
/// is completion), as in the built-in templates; <see cref="ChatTemplate.TemplateTokens"/> can change both. An assistant
/// message whose content starts with a <c>&lt;think&gt;…&lt;/think&gt;</c> block gets two markers, one for the thinking and
/// one for the answer, so that a template which splits the thinking off and writes it back itself (Qwen3's does) is
/// followed too; the tags and the template text between the two parts belong to the thinking
/// (<see cref="ChatTurn.ThinkingWeight"/>). Special tokens are recognized only in the template's own text, never in
/// message content.
/// </summary>
/// <remarks>
/// Text between special tokens is encoded per role run (as the built-in templates do); text right after a special
/// token is encoded as the start of an encode call. A template whose output depends on the content in ways the
/// marker rendering cannot follow (content it rewrites beyond trimming) fails with an error naming the message.
/// </remarks>
public sealed class JinjaChatTemplate : ChatTemplate
{
    private const char MarkerOpen = '\uF8F0', MarkerClose = '\uF8F1';

    private static readonly string[] EndOfTurnTokens =
        ["<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<｜end▁of▁sentence｜>", "<|endoftext|>"];

    private readonly JinjaTemplate _template;
    private readonly IReadOnlyDictionary<string, object?> _variables;
    private readonly string[] _specialByLength;
    private readonly HashSet<string> _stopNames;

    /// <summary>
    /// Creates the template over a tokenizer. <paramref name="variables"/> are passed to every rendering (for
    /// example bos_token and eos_token); <c>messages</c> and <c>add_generation_prompt</c> are set per call.
    /// </summary>
    public JinjaChatTemplate(HfTokenizer tokenizer, string template, IReadOnlyDictionary<string, object?>? variables = null, string name = "chat_template")
        : base(tokenizer)
    {
        _template = JinjaTemplate.Parse(template ?? throw new ArgumentNullException(nameof(template)));
        _variables = variables ?? new Dictionary<string, object?>();
        Name = name;
        _specialByLength = tokenizer.SpecialTokens.Keys.OrderByDescending(k => k.Length).ToArray();
        _stopNames = EndOfTurnTokens.Where(t => tokenizer.TryGetSpecialTokenId(t, out _)).ToHashSet(StringComparer.Ordinal);
        if (tokenizer.EosToken is string eos)
            _stopNames.Add(eos);
        StopIds = _stopNames.Select(tokenizer.SpecialTokenId).Distinct().ToList();
    }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<long> StopIds { get; }

    /// <summary>The template's text for a conversation, exactly as Jinja renders it (special tokens by name).</summary>
    public string RenderText(IReadOnlyList<ChatTurn> conversation, bool addGenerationPrompt) =>
        RenderWith(conversation.Select(t => t.Content).ToList(), conversation, addGenerationPrompt);

    private string RenderWith(IReadOnlyList<string> contents, IReadOnlyList<ChatTurn> conversation, bool addGenerationPrompt)
    {
        var variables = new Dictionary<string, object?>(_variables, StringComparer.Ordinal)
        {
            ["messages"] = conversation.Select((t, i) => new Dictionary<string, object?> { ["role"] = RoleName(t.Role), ["content"] = contents[i] }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        try
        {
            return _template.Render(variables);
        }
        catch (TemplateRaisedException e)
        {
            throw new ArgumentException($"The chat template {Name} rejects the conversation: {e.Message}", nameof(conversation), e);
        }
    }

    private protected override void Layout(IReadOnlyList<ChatTurn> conversation, SpanBuilder builder, bool addGenerationPrompt)
    {
        string text = RenderWith(conversation.Select(t => t.Content).ToList(), conversation, addGenerationPrompt);
        var slots = Slots(conversation);
        string marked = RenderWith(MarkedContents(conversation, slots), conversation, addGenerationPrompt);
        var attribution = Attribute(text, marked, conversation, slots, addGenerationPrompt);
        Emit(text, attribution, builder);
    }

    /// <summary>
    /// The pieces of message content that get a marker, by key: 2i+1 for the content of message i; for an assistant
    /// message with a <c>&lt;think&gt;…&lt;/think&gt;</c> block, 2i for the thinking between the tags and 2i+1 for the answer
    /// after them (so that a template which splits the thinking off, as Qwen3's does, still lays out markers).
    /// </summary>
    private static SortedDictionary<int, string> Slots(IReadOnlyList<ChatTurn> conversation)
    {
        var slots = new SortedDictionary<int, string>();
        for (int i = 0; i < conversation.Count; i++)
        {
            string content = conversation[i].Content;
            if (conversation[i].Role == TokenRole.Assistant && ThinkingBlock.Find(content) is (int start, int end) && end < content.Length)
            {
                slots[2 * i] = content[(start + ThinkingBlock.Open.Length)..(end - ThinkingBlock.Close.Length)];
                slots[2 * i + 1] = content[end..];
            }
            else if (content.Length > 0)
            {
                slots[2 * i + 1] = content;
            }
        }
        return slots;
    }

    private static List<string> MarkedContents(IReadOnlyList<ChatTurn> conversation, SortedDictionary<int, string> slots)
    {
        static string Marker(int key) => $"{MarkerOpen}{key}{MarkerClose}";
        var contents = new List<string>();
        for (int i = 0; i < conversation.Count; i++)
        {
            string content = conversation[i].Content;
            if (slots.ContainsKey(2 * i))
            {
                var (start, _) = ThinkingBlock.Find(content)!.Value;
                contents.Add(content[..start] + ThinkingBlock.Open + Marker(2 * i) + ThinkingBlock.Close + Marker(2 * i + 1));
            }
            else
            {
                contents.Add(slots.ContainsKey(2 * i + 1) ? Marker(2 * i + 1) : "");
            }
        }
        return contents;
    }

    /// <summary>Role, data weight and whether it is message content, for every character of the rendering.</summary>
    private sealed record Attribution(TokenRole[] Roles, double[] Weights, bool[] IsContent)
    {
        public void Fill(int at, int length, (TokenRole Role, double Weight) part)
        {
            Array.Fill(Roles, part.Role, at, length);
            Array.Fill(Weights, part.Weight, at, length);
        }
    }

    /// <summary>The role and weight of every character of <paramref name="text"/>, and which characters are message content.</summary>
    private Attribution Attribute(string text, string marked, IReadOnlyList<ChatTurn> conversation, SortedDictionary<int, string> slots, bool addGenerationPrompt)
    {
        // Cut the marked rendering into template text (glue) and the slots whose markers sit between.
        var glue = new List<string>();
        var order = new List<int>();
        int position = 0;
        while (true)
        {
            int open = marked.IndexOf(MarkerOpen, position);
            if (open < 0)
                break;
            int close = marked.IndexOf(MarkerClose, open);
            glue.Add(marked[position..open]);
            order.Add(int.Parse(marked.AsSpan(open + 1, close - open - 1), System.Globalization.CultureInfo.InvariantCulture));
            position = close + 1;
        }
        glue.Add(marked[position..]);
        if (order.Distinct().Count() != order.Count || !order.SequenceEqual(order.Order()))
            throw new InvalidOperationException($"The chat template {Name} renders messages more than once or out of order; per-message masks cannot be built.");

        var result = new Attribution(new TokenRole[text.Length], new double[text.Length], new bool[text.Length]);
        int at = 0;
        for (int k = 0; k <= order.Count; k++)
        {
            int? previous = k > 0 ? order[k - 1] : null, next = k < order.Count ? order[k] : null;
            int blamed = next is int n ? n / 2 : order.Count > 0 ? order[^1] / 2 : 0;
            if (string.CompareOrdinal(text, at, glue[k], 0, glue[k].Length) != 0)
                throw LayoutDependsOnContent(conversation, blamed);
            if (previous is int p && next is int q && p % 2 == 0 && q == p + 1)
            {
                // between the thinking and the answer of one message: the closing tag belongs to the thinking
                result.Fill(at, glue[k].Length, Thinking(conversation[p / 2]));
            }
            else
            {
                var header = next is int m ? TemplateTokens.HeaderOf(conversation[m / 2])
                    : addGenerationPrompt ? TemplateTokens.HeaderOf(new ChatTurn(TokenRole.Assistant, ""))
                    : (HeaderRole(conversation[^1].Role), conversation[^1].Weight);
                result.Fill(at, glue[k].Length, header);
                if (previous is int done)
                {
                    var before = conversation[done / 2];
                    int end = MarkEndOfTurn(glue[k], at, result, TemplateTokens.EndOfTurnOf(before));
                    // text between the end of turn and the next header's first special token (a newline) keeps the previous turn's prompt role, as in ChatMLTemplate
                    int headerStart = NextSpecial(glue[k], end);
                    if (next is not null && headerStart > end && headerStart < glue[k].Length)
                        result.Fill(at + end, headerStart - end, (HeaderRole(before.Role), header.Weight));
                }
                if (next is int thinking && thinking % 2 == 0)
                {
                    int tag = glue[k].LastIndexOf(ThinkingBlock.Open, StringComparison.Ordinal);
                    if (tag >= 0)
                        result.Fill(at + tag, glue[k].Length - tag, Thinking(conversation[thinking / 2]));
                }
            }
            at += glue[k].Length;
            if (next is not int key)
                break;
            var turn = conversation[key / 2];
            int length = ContentLength(text, at, slots[key], glue[k + 1], k + 1 == order.Count)
                ?? throw LayoutDependsOnContent(conversation, key / 2);
            result.Fill(at, length, key % 2 == 0 ? Thinking(turn) : (turn.Role, turn.Weight));
            Array.Fill(result.IsContent, true, at, length);
            at += length;
        }
        return result;
    }

    /// <summary>The role and weight of the thinking block of an assistant message.</summary>
    private static (TokenRole Role, double Weight) Thinking(ChatTurn turn) => (turn.Role, turn.Weight * (turn.ThinkingWeight ?? 1.0));

    private InvalidOperationException LayoutDependsOnContent(IReadOnlyList<ChatTurn> conversation, int message) => new(
        $"The chat template {Name} renders message {Math.Max(message, 0)} ({RoleName(conversation[Math.Max(message, 0)].Role)}) differently for its content than for a marker: "
        + "its layout depends on the content, or it rewrites the content beyond trimming; per-message masks cannot be built (RenderText still gives the text).");

    /// <summary>Where the first special token at or after <paramref name="from"/> starts in <paramref name="glue"/> (its length when none).</summary>
    private int NextSpecial(string glue, int from)
    {
        for (int i = from; i < glue.Length; i++)
        {
            if (SpecialAt(glue, i) is not null)
                return i;
        }
        return glue.Length;
    }

    /// <summary>
    /// After a message, the template text up to and including the first stop token is that message's end of turn;
    /// returns where it ends in <paramref name="glue"/> (0 when the glue has no stop token).
    /// </summary>
    private int MarkEndOfTurn(string glue, int offset, Attribution result, (TokenRole Role, double Weight) endOfTurn)
    {
        int end = -1;
        foreach (string stop in _stopNames)
        {
            int index = glue.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (end < 0 || index + stop.Length < end))
                end = index + stop.Length;
        }
        if (end > 0)
            result.Fill(offset, end, endOfTurn);
        return Math.Max(end, 0);
    }

    /// <summary>How long the rendered content at <paramref name="at"/> is: the content as given or stripped, then the next template text.</summary>
    private static int? ContentLength(string text, int at, string content, string nextGlue, bool last)
    {
        string[] variants =
        [
            content, Values.Strip(content, null), Values.Strip(content, null, right: false), Values.Strip(content, null, left: false),
            Values.Strip(content, "\n"), Values.Strip(content, "\n", right: false), Values.Strip(content, "\n", left: false),
        ];
        foreach (string variant in variants)
        {
            if (at + variant.Length > text.Length || string.CompareOrdinal(text, at, variant, 0, variant.Length) != 0)
                continue;
            int after = at + variant.Length;
            if (last ? text.Length - after == nextGlue.Length && text.EndsWith(nextGlue, StringComparison.Ordinal)
                     : string.CompareOrdinal(text, after, nextGlue, 0, nextGlue.Length) == 0)
                return variant.Length;
        }
        if (last)
            return text.Length - at - nextGlue.Length >= 0 && text.EndsWith(nextGlue, StringComparison.Ordinal) ? text.Length - at - nextGlue.Length : null;
        int next = nextGlue.Length == 0 ? -1 : text.IndexOf(nextGlue, at, StringComparison.Ordinal);
        return next < 0 ? null : next - at;
    }

    private void Emit(string text, Attribution attribution, SpanBuilder builder)
    {
        var (roles, weights, isContent) = attribution;
        bool afterSpecial = true;
        int i = 0;
        while (i < text.Length)
        {
            if (!isContent[i] && SpecialAt(text, i) is string special && AllSame(attribution, i, special.Length))
            {
                builder.Special(special, roles[i], weights[i]);
                i += special.Length;
                afterSpecial = true;
                continue;
            }
            int start = i;
            do
            {
                i++;
            }
            while (i < text.Length && roles[i] == roles[start] && weights[i] == weights[start] && (isContent[i] || SpecialAt(text, i) is null));
            builder.Text(text[start..i], roles[start], atStart: afterSpecial, weights[start]);
            afterSpecial = false;
        }
    }

    private static bool AllSame(Attribution attribution, int start, int length)
    {
        for (int i = start + 1; i < start + length; i++)
        {
            if (attribution.Roles[i] != attribution.Roles[start] || attribution.Weights[i] != attribution.Weights[start])
                return false;
        }
        return true;
    }

    private string? SpecialAt(string text, int at)
    {
        foreach (string token in _specialByLength)
        {
            if (at + token.Length <= text.Length && string.CompareOrdinal(text, at, token, 0, token.Length) == 0)
                return token;
        }
        return null;
    }
}
