using System.Text;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// Collects the spans of a rendering. Consecutive text of the same role is joined and encoded in one call (so the
/// tokenizer sees it whole); a role change or a special token ends the text run.
/// </summary>
internal sealed class SpanBuilder(ChatTokenizer tokenizer)
{
    private readonly List<ChatSpan> _spans = [];
    private readonly StringBuilder _text = new();
    private TokenRole _textRole;
    private bool _textAtStart;

    /// <summary>Adds a special token by name.</summary>
    public void Special(string token, TokenRole role)
    {
        FlushText();
        _spans.Add(new ChatSpan(token, [tokenizer.SpecialTokenId(token)], role, IsSpecial: true, AtStart: false));
    }

    /// <summary>Adds text; <paramref name="atStart"/> applies when it starts a new text run.</summary>
    public void Text(string text, TokenRole role, bool atStart = false)
    {
        if (text.Length == 0)
            return;
        if (_text.Length > 0 && role != _textRole)
            FlushText();
        if (_text.Length == 0)
        {
            _textRole = role;
            _textAtStart = atStart;
        }
        _text.Append(text);
    }

    /// <summary>The finished rendering.</summary>
    public RenderedChat Build()
    {
        FlushText();
        return new RenderedChat(_spans.ToList());
    }

    private void FlushText()
    {
        if (_text.Length == 0)
            return;
        string text = _text.ToString();
        _spans.Add(new ChatSpan(text, tokenizer.Encode(text, _textAtStart), _textRole, IsSpecial: false, AtStart: _textAtStart));
        _text.Clear();
    }
}
