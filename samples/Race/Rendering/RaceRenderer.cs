using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Samples.Race.Rendering;

/// <summary>
/// Turns RACE examples into training sequences with the model's chat template: the user turn is
/// <see cref="RacePrompt.Prompt"/> (article, question, options A–D, instruction), the assistant turn is the answer
/// letter. Also finds the token id of each answer letter as it appears in a rendered completion, for accuracy.
/// </summary>
public sealed class RaceRenderer
{
    private readonly IChatTemplate _template;

    /// <summary>Creates a renderer; throws when the letters A–D do not each start the completion with a distinct token.</summary>
    public RaceRenderer(IChatTemplate template, int? maxLength = null)
    {
        _template = template ?? throw new ArgumentNullException(nameof(template));
        MaxLength = maxLength;
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
    public int Truncated { get; private set; }

    /// <summary>The rendered sequence with token roles (prompt = system/user, completion = assistant).</summary>
    public MaskedExample Render(RaceExample example)
    {
        var rendered = _template.RenderPromptCompletion(RacePrompt.Prompt(example), example.Answer).ToMaskedExample();
        if (MaxLength is int max && rendered.Length > max)
        {
            // Shorten the article rather than lose the question, the options or the answer.
            Truncated++;
            string[] words = example.Article.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int keep = words.Length;
            while (rendered.Length > max && keep > 0)
            {
                keep = Math.Max(0, keep - Math.Max(1, rendered.Length - max));
                var shorter = example with { Article = string.Join(' ', words.Take(keep)) };
                rendered = _template.RenderPromptCompletion(RacePrompt.Prompt(shorter), example.Answer).ToMaskedExample();
            }
            if (rendered.Length > max)
                throw new ArgumentException($"Example {example.ExampleId} needs {rendered.Length} tokens without its article; MaxLength is {max}.");
        }
        return rendered;
    }

    /// <summary>Renders every example.</summary>
    public IReadOnlyList<MaskedExample> RenderAll(IEnumerable<RaceExample> examples) => examples.Select(Render).ToList();
}
