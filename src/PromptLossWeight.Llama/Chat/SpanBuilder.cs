using System.Text;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// Collects the spans of a rendering. Consecutive text of the same role and data weight is joined and encoded in one
/// call (so the tokenizer sees it whole); a role or weight change or a special token ends the text run. The <see cref="ChatTurn.Context"/> of a
/// turn in <paramref name="conversation"/> is encoded on its own inside its run and its span marked
/// <see cref="ChatSpan.IsContext"/>.
/// </summary>
internal sealed class SpanBuilder(HfTokenizer tokenizer, IReadOnlyList<ChatTurn>? conversation = null)
{
    private readonly List<ChatSpan> _spans = [];
    private readonly List<string> _contexts = conversation?.Select(t => t.Context).OfType<string>().Where(c => c.Length > 0).ToList() ?? [];
    private readonly HashSet<string> _contextsFound = new(StringComparer.Ordinal);
    private readonly StringBuilder _text = new();
    private TokenRole _textRole;
    private double _textWeight = 1.0;
    private bool _textAtStart;

    /// <summary>Adds a special token by name.</summary>
    public void Special(string token, TokenRole role, double weight = 1.0)
    {
        FlushText();
        _spans.Add(new ChatSpan(token, [tokenizer.SpecialTokenId(token)], role, IsSpecial: true, AtStart: false, Weight: weight));
    }

    /// <summary>Adds a special token by name with a (role, weight) pair (from <see cref="TemplateTokens"/>).</summary>
    public void Special(string token, (TokenRole Role, double Weight) part) => Special(token, part.Role, part.Weight);

    /// <summary>Adds text; <paramref name="atStart"/> applies when it starts a new text run.</summary>
    public void Text(string text, TokenRole role, bool atStart = false, double weight = 1.0)
    {
        if (text.Length == 0)
            return;
        if (_text.Length > 0 && (role != _textRole || weight != _textWeight))
            FlushText();
        if (_text.Length == 0)
        {
            _textRole = role;
            _textWeight = weight;
            _textAtStart = atStart;
        }
        _text.Append(text);
    }

    /// <summary>Adds text with a (role, weight) pair (from <see cref="TemplateTokens"/>).</summary>
    public void Text(string text, (TokenRole Role, double Weight) part, bool atStart = false) => Text(text, part.Role, atStart, part.Weight);

    /// <summary>
    /// Adds the rendered <paramref name="content"/> of <paramref name="turn"/> with the turn's role and weight; with a
    /// <see cref="ChatTurn.ThinkingWeight"/>, the <c>&lt;think&gt;…&lt;/think&gt;</c> block of an assistant message is a span
    /// of its own weighing <see cref="ChatTurn.Weight"/> × <see cref="ChatTurn.ThinkingWeight"/>.
    /// </summary>
    public void Content(ChatTurn turn, string content, bool atStart = false)
    {
        if (turn.Role == TokenRole.Assistant && turn.ThinkingWeight is double thinking && ThinkingBlock.Find(content) is (int start, int end))
        {
            Text(content[..start], turn.Role, atStart, turn.Weight);
            Text(content[start..end], turn.Role, atStart && start == 0, turn.Weight * thinking);
            Text(content[end..], turn.Role, weight: turn.Weight);
            return;
        }
        Text(content, turn.Role, atStart, turn.Weight);
    }

    /// <summary>The finished rendering.</summary>
    public RenderedChat Build()
    {
        FlushText();
        foreach (string context in _contexts)
            if (!_contextsFound.Contains(context))
                throw new ArgumentException($"A turn's context does not occur in the rendered text of its turn: \"{Preview(context)}\".", nameof(conversation));
        return new RenderedChat(_spans.ToList());
    }

    private void FlushText()
    {
        if (_text.Length == 0)
            return;
        bool atStart = _textAtStart;
        // The core's rule: the run is cut around each context it holds, and the context pieces are marked.
        foreach (var (text, context) in ContextSplit.Around(_text.ToString(), _contexts))
        {
            AddText(text, atStart, isContext: context is not null);
            if (context is not null) _contextsFound.Add(context);
            atStart = false;
        }
        _text.Clear();
    }

    private void AddText(string text, bool atStart, bool isContext)
    {
        if (text.Length > 0)
            _spans.Add(new ChatSpan(text, tokenizer.Encode(text, atStart), _textRole, IsSpecial: false, AtStart: atStart, IsContext: isContext, Weight: _textWeight));
    }

    private static string Preview(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
