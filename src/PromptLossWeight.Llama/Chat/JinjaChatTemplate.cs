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
/// message has that message's prompt role (an assistant header is user); after an assistant message, the template
/// text up to and including the first stop token (end of turn or EOS) is assistant, as in the built-in templates.
/// Special tokens are recognized only in the template's own text, never in message content.
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
    public JinjaChatTemplate(ChatTokenizer tokenizer, string template, IReadOnlyDictionary<string, object?>? variables = null, string name = "chat_template")
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
        var markers = conversation.Select((t, i) => t.Content.Length == 0 ? "" : $"{MarkerOpen}{i}{MarkerClose}").ToList();
        string marked = RenderWith(markers, conversation, addGenerationPrompt);
        var roles = Attribute(text, marked, conversation, addGenerationPrompt, out var isContent);
        Emit(text, roles, isContent, builder);
    }

    /// <summary>The role of every character of <paramref name="text"/>, and which characters are message content.</summary>
    private TokenRole[] Attribute(string text, string marked, IReadOnlyList<ChatTurn> conversation, bool addGenerationPrompt, out bool[] isContent)
    {
        // Cut the marked rendering into template text (glue) and the messages whose markers sit between.
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

        var roles = new TokenRole[text.Length];
        isContent = new bool[text.Length];
        int at = 0;
        for (int k = 0; k <= order.Count; k++)
        {
            if (string.CompareOrdinal(text, at, glue[k], 0, glue[k].Length) != 0)
                throw LayoutDependsOnContent(conversation, k < order.Count ? order[k] : order.Count - 1);
            var glueRole = k < order.Count ? HeaderRole(conversation[order[k]].Role) : addGenerationPrompt ? TokenRole.User : HeaderRole(conversation[^1].Role);
            Array.Fill(roles, glueRole, at, glue[k].Length);
            if (k > 0 && conversation[order[k - 1]].Role == TokenRole.Assistant)
                MarkEndOfTurn(glue[k], at, roles);
            at += glue[k].Length;
            if (k == order.Count)
                break;
            int length = ContentLength(text, at, conversation[order[k]].Content, glue[k + 1], k + 1 == order.Count)
                ?? throw LayoutDependsOnContent(conversation, order[k]);
            Array.Fill(roles, conversation[order[k]].Role, at, length);
            Array.Fill(isContent, true, at, length);
            at += length;
        }
        return roles;
    }

    private InvalidOperationException LayoutDependsOnContent(IReadOnlyList<ChatTurn> conversation, int message) => new(
        $"The chat template {Name} renders message {Math.Max(message, 0)} ({RoleName(conversation[Math.Max(message, 0)].Role)}) differently for its content than for a marker: "
        + "its layout depends on the content, or it rewrites the content beyond trimming; per-message masks cannot be built (RenderText still gives the text).");

    /// <summary>After an assistant message, the template text up to and including the first stop token is assistant.</summary>
    private void MarkEndOfTurn(string glue, int offset, TokenRole[] roles)
    {
        int end = -1;
        foreach (string stop in _stopNames)
        {
            int index = glue.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (end < 0 || index + stop.Length < end))
                end = index + stop.Length;
        }
        if (end > 0)
            Array.Fill(roles, TokenRole.Assistant, offset, end);
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

    private void Emit(string text, TokenRole[] roles, bool[] isContent, SpanBuilder builder)
    {
        bool afterSpecial = true;
        int i = 0;
        while (i < text.Length)
        {
            if (!isContent[i] && SpecialAt(text, i) is string special && AllSameRole(roles, i, special.Length))
            {
                builder.Special(special, roles[i]);
                i += special.Length;
                afterSpecial = true;
                continue;
            }
            int start = i;
            do
            {
                i++;
            }
            while (i < text.Length && roles[i] == roles[start] && (isContent[i] || SpecialAt(text, i) is null));
            builder.Text(text[start..i], roles[start], atStart: afterSpecial);
            afterSpecial = false;
        }
    }

    private static bool AllSameRole(TokenRole[] roles, int start, int length)
    {
        for (int i = start + 1; i < start + length; i++)
        {
            if (roles[i] != roles[start])
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
