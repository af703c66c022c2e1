using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;

namespace PromptLossWeight.Masking;

/// <summary>
/// Turns prompts and completions (text or token ids) and chat turns into <see cref="MaskedExample"/>s: token ids
/// plus the role of every token, from which prompt masks, completion masks and loss weights follow.
/// Each segment is tokenized on its own and the ids are concatenated, so a mask can never be off by a token
/// because of how a tokenizer merges text across the prompt/completion boundary.
/// </summary>
/// <remarks>
/// Over-long sequences lose prompt tokens only (see <see cref="MaskBuilderOptions.Truncation"/>); the completion
/// is never cut. The counters <see cref="Built"/>, <see cref="Truncated"/>, <see cref="Skipped"/> and
/// <see cref="SkippedZeroWeight"/> report what happened.
/// </remarks>
public sealed class MaskBuilder
{
    private readonly Func<string, IReadOnlyList<long>> _encode;

    /// <summary>Creates a builder over any Microsoft.ML.Tokenizers tokenizer (no special tokens are added by it).</summary>
    public MaskBuilder(Tokenizer tokenizer, MaskBuilderOptions? options = null)
        : this(text => tokenizer.EncodeToIds(text).Select(id => (long)id).ToArray(), options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
    }

    /// <summary>Creates a builder over an encoding function (text to token ids).</summary>
    public MaskBuilder(Func<string, IReadOnlyList<long>> encode, MaskBuilderOptions? options = null)
    {
        _encode = encode ?? throw new ArgumentNullException(nameof(encode));
        Options = (options ?? new MaskBuilderOptions()).Validate();
    }

    /// <summary>The settings in use.</summary>
    public MaskBuilderOptions Options { get; }

    /// <summary>Examples built so far (including truncated ones).</summary>
    public int Built { get; private set; }

    /// <summary>Examples whose prompt was shortened to fit <see cref="MaskBuilderOptions.MaxLength"/>.</summary>
    public int Truncated { get; private set; }

    /// <summary>Examples skipped because their completion did not fit (with <see cref="CompletionOverflow.Skip"/>).</summary>
    public int Skipped { get; private set; }

    /// <summary>
    /// Examples skipped because no completion token carries weight from the data (every completion token has data weight
    /// 0: an example weight of 0, or 0 on every assistant message or span); each is logged as a warning through
    /// <see cref="MaskBuilderOptions.Logger"/>. Such an example has no answer to learn (at PLW 0 it would only add 0/0).
    /// </summary>
    public int SkippedZeroWeight { get; private set; }

    /// <summary>A prompt/completion pair of texts. Returns null when the example was skipped.</summary>
    public MaskedExample? Build(string prompt, string completion) =>
        Build([new PromptPart(prompt)], completion);

    /// <summary>
    /// A prompt/completion pair of texts with the example's weight from the data (<paramref name="weight"/>, finite and
    /// ≥ 0, multiplies every token's loss weight; 0 skips the example, see <see cref="SkippedZeroWeight"/>). Returns null
    /// when the example was skipped.
    /// </summary>
    public MaskedExample? Build(string prompt, string completion, double weight) =>
        Build([new PromptPart(prompt)], completion, weight);

    /// <summary>A prompt made of parts (some marked as context) and a completion text. Returns null when skipped.</summary>
    public MaskedExample? Build(IReadOnlyList<PromptPart> prompt, string completion) => Build(prompt, completion, 1.0);

    /// <summary>
    /// A prompt made of parts (some marked as context) and a completion text, with the example's weight from the data.
    /// Returns null when skipped.
    /// </summary>
    public MaskedExample? Build(IReadOnlyList<PromptPart> prompt, string completion, double weight)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(completion);
        RoleWeights.Check(weight, nameof(weight));
        var segments = prompt.Select(p => new TokenSegment(_encode(p.Text), TokenRole.User, p.IsContext, weight)).ToList();
        segments.Add(new TokenSegment(_encode(completion), TokenRole.Assistant, Weight: weight));
        return Build(segments);
    }

    /// <summary>A prompt/completion pair already tokenized. Returns null when skipped.</summary>
    public MaskedExample? Build(IReadOnlyList<long> promptIds, IReadOnlyList<long> completionIds) =>
        Build([new TokenSegment(promptIds, TokenRole.User), new TokenSegment(completionIds, TokenRole.Assistant)]);

    /// <summary>
    /// A conversation, each turn's text tokenized as it is (no chat template: use the templates of
    /// PromptLossWeight.Llama to get the model's own format), a turn's <see cref="ChatTurn.Context"/> tokenized on its
    /// own and marked as context. Each turn's <see cref="ChatTurn.Weight"/> goes with its tokens (without a template there
    /// is no thinking span: use a template for <see cref="ChatTurn.ThinkingWeight"/>). Returns null when skipped.
    /// </summary>
    public MaskedExample? BuildChat(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        var segments = new List<TokenSegment>();
        for (int i = 0; i < turns.Count; i++)
        {
            ChatTurn turn = turns[i] ?? throw new ArgumentException($"Turn {i} is null.", nameof(turns));
            if (!string.IsNullOrEmpty(turn.Context) && !turn.Content.Contains(turn.Context, StringComparison.Ordinal))
                throw new ArgumentException($"The context of turn {i} does not occur in its content.", nameof(turns));
            double weight = RoleWeights.Check(turn.Weight, $"turns[{i}].Weight");
            string[] contexts = string.IsNullOrEmpty(turn.Context) ? [] : [turn.Context];
            foreach (var (text, context) in ContextSplit.Around(turn.Content, contexts))
                segments.Add(new TokenSegment(_encode(text), turn.Role, IsContext: context is not null, weight));
        }
        return Build(segments);
    }

    /// <summary>
    /// The general form: segments of ids with roles, concatenated after an optional BOS and followed by an optional
    /// EOS (which counts as completion and has the data weight of the last completion segment; BOS has the first
    /// segment's). Returns null when the example was skipped: its completion does not fit (<see cref="Skipped"/>) or no
    /// completion token has a data weight above 0 (<see cref="SkippedZeroWeight"/>).
    /// </summary>
    public MaskedExample? Build(IReadOnlyList<TokenSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        if (segments.Count == 0)
            throw new ArgumentException("An example needs at least one segment.", nameof(segments));
        if (!segments.Any(s => s.Role == TokenRole.Assistant && s.Ids.Count > 0))
            throw new ArgumentException("The example has no completion tokens: the completion (assistant) text is empty.", nameof(segments));
        if (!segments.Any(s => s.Role != TokenRole.Assistant && s.Ids.Count > 0) && Options.BosId is null)
            throw new ArgumentException("The example has no prompt tokens: the prompt is empty and no BOS is configured.", nameof(segments));

        for (int s = 0; s < segments.Count; s++)
            RoleWeights.Check(segments[s].Weight, $"segments[{s}].Weight");

        var tokens = new List<Token>();
        if (Options.BosId is long bos)
            tokens.Add(new Token(bos, segments[0].Role == TokenRole.Assistant ? TokenRole.User : segments[0].Role, false, Protected: true, segments[0].Weight));
        foreach (var segment in segments)
            foreach (long id in segment.Ids)
                tokens.Add(new Token(id, segment.Role, segment.IsContext, Protected: segment.Role == TokenRole.Assistant, segment.Weight));
        if (Options.EosId is long eos)
            tokens.Add(new Token(eos, TokenRole.Assistant, false, Protected: true, segments.Last(s => s.Role == TokenRole.Assistant).Weight));

        if (!tokens.Any(t => t.Role == TokenRole.Assistant && t.Weight > 0))
        {
            SkippedZeroWeight++;
            Options.Logger?.LogWarning("Skipped an example whose completion has weight 0 everywhere ({Count} such examples so far): it has nothing to train on.", SkippedZeroWeight);
            return null;
        }

        if (Options.MaxLength is int max && tokens.Count > max)
        {
            int fixedCount = tokens.Count(t => t.Protected);
            if (fixedCount >= max)
            {
                if (Options.Overflow == CompletionOverflow.Skip)
                {
                    Skipped++;
                    return null;
                }
                throw new ArgumentException(
                    $"The completion needs {fixedCount} tokens (with BOS/EOS) but MaxLength is {max}: it cannot fit with any prompt.",
                    nameof(segments));
            }
            Truncate(tokens, tokens.Count - max);
            Truncated++;
        }

        Built++;
        var example = new MaskedExample(tokens.Select(t => t.Id).ToArray(), tokens.Select(t => t.Role).ToArray());
        return tokens.All(t => t.Weight == 1.0) ? example : example with { DataWeights = tokens.Select(t => (float)t.Weight).ToArray() };
    }

    private void Truncate(List<Token> tokens, int excess)
    {
        if (Options.Truncation == PromptTruncation.ContextFirst)
        {
            for (int i = tokens.Count - 1; i >= 0 && excess > 0; i--)
            {
                if (tokens[i].IsContext && !tokens[i].Protected)
                {
                    tokens.RemoveAt(i);
                    excess--;
                }
            }
        }
        for (int i = 0; i < tokens.Count && excess > 0;)
        {
            if (!tokens[i].Protected)
            {
                tokens.RemoveAt(i);
                excess--;
            }
            else
            {
                i++;
            }
        }
    }

    private readonly record struct Token(long Id, TokenRole Role, bool IsContext, bool Protected, double Weight);
}
