using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Samples.Race.Rendering;

/// <summary>
/// Turns RACE examples into training sequences with the model's chat template: the user turn is
/// <see cref="RacePrompt.Prompt"/> (article, question, options A–D, instruction) with the article marked as context,
/// the assistant turn is the answer letter; the rendered segments go through a <see cref="MaskBuilder"/>, which
/// shortens an over-long example from the end of its article. Also finds the token id of each answer letter as it
/// appears in a rendered completion, for accuracy.
/// </summary>
public sealed class RaceRenderer
{
    private readonly IChatTemplate _template;
    private readonly MaskBuilder _builder;

    /// <summary>Creates a renderer; throws when the letters A–D do not each start the completion with a distinct token.</summary>
    public RaceRenderer(IChatTemplate template, int? maxLength = null)
    {
        _template = template ?? throw new ArgumentNullException(nameof(template));
        MaxLength = maxLength;
        // The template inserts its own special tokens, so the builder adds none; it only truncates, context first.
        _builder = new MaskBuilder(text => template.Tokenizer.Encode(text),
            new MaskBuilderOptions { MaxLength = maxLength, Truncation = PromptTruncation.ContextFirst });
        var ids = new List<long>();
        foreach (string letter in RaceExample.Letters)
        {
            var rendered = template.RenderPromptCompletion("Question", letter);
            int first = Array.IndexOf(rendered.Roles, TokenRole.Assistant);
            if (first < 0) throw new InvalidOperationException($"The chat template renders no completion token for the answer '{letter}'.");
            ids.Add(rendered.Ids[first]);
        }
        if (ids.Distinct().Count() != ids.Count)
            throw new InvalidOperationException($"The answer letters A–D share token ids ({string.Join(", ", ids)}) under this tokenizer.");
        AnswerTokenIds = ids;
    }

    /// <summary>The token id that starts the completion for A, B, C and D (in that order).</summary>
    public IReadOnlyList<long> AnswerTokenIds { get; }

    /// <summary>Longest sequence kept; longer examples lose article tokens from the end of the article (null: no limit).</summary>
    public int? MaxLength { get; }

    /// <summary>Examples shortened to fit <see cref="MaxLength"/> so far.</summary>
    public int Truncated => _builder.Truncated;

    /// <summary>The rendered sequence with token roles (prompt = system/user, completion = assistant).</summary>
    public MaskedExample Render(RaceExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        RenderedChat rendered = _template.Render(
        [
            new ChatTurn(TokenRole.User, RacePrompt.Prompt(example)) { Context = example.Article.Trim() },
            new ChatTurn(TokenRole.Assistant, example.Answer),
        ]);
        // Shorten the article rather than lose the question, the options or the answer.
        int withoutArticle = rendered.Spans.Where(s => !s.IsContext).Sum(s => s.Ids.Count);
        if (MaxLength is int max && withoutArticle > max)
            throw new ArgumentException($"Example {example.ExampleId} needs {withoutArticle} tokens without its article; MaxLength is {max}.");
        return _builder.Build(rendered.Segments)!; // never null: the builder throws rather than skip (CompletionOverflow.Error)
    }

    /// <summary>Renders every example.</summary>
    public IReadOnlyList<MaskedExample> RenderAll(IEnumerable<RaceExample> examples) => examples.Select(Render).ToList();
}
