using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Chat;

internal static class ChatAssertions
{
    /// <summary>Every span decodes to its own text and the roles of the rendering are the spans' roles.</summary>
    public static void SpansMatchTheirTokens(this RenderedChat rendered, HfTokenizer tokenizer)
    {
        foreach (var span in rendered.Spans)
        {
            if (span.IsSpecial)
            {
                span.Ids.Should().Equal([tokenizer.SpecialTokenId(span.Text)], $"special span '{span.Text}' is its id");
            }
            else
            {
                span.Ids.Should().NotContain(id => tokenizer.IsSpecial(id), $"text span '{span.Text}' holds no special id");
                tokenizer.Decode(span.Ids, span.AtStart).Should().Be(span.Text);
            }
        }
        rendered.Ids.Should().Equal(rendered.Spans.SelectMany(s => s.Ids));
        rendered.Roles.Should().Equal(rendered.Spans.SelectMany(s => s.Ids.Select(_ => s.Role)));
    }

    /// <summary>The decoded text of the tokens that have <paramref name="role"/>.</summary>
    public static string TextOf(this RenderedChat rendered, HfTokenizer tokenizer, TokenRole role) =>
        tokenizer.Decode(rendered.Ids.Where((_, i) => rendered.Roles[i] == role), atStart: false);

    /// <summary>The spans as (text, role) pairs.</summary>
    public static (string Text, TokenRole Role)[] Layout(this RenderedChat rendered) =>
        rendered.Spans.Select(s => (s.Text, s.Role)).ToArray();

    /// <summary>The decoded text of the tokens whose role and data weight satisfy <paramref name="keep"/>.</summary>
    public static string TextWhere(this RenderedChat rendered, HfTokenizer tokenizer, Func<TokenRole, float, bool> keep) =>
        tokenizer.Decode(rendered.Ids.Where((_, i) => keep(rendered.Roles[i], rendered.Weights[i])), atStart: false);

    /// <summary>The spans as (text, role, weight) triples.</summary>
    public static (string Text, TokenRole Role, double Weight)[] WeightedLayout(this RenderedChat rendered) =>
        rendered.Spans.Select(s => (s.Text, s.Role, s.Weight)).ToArray();
}
