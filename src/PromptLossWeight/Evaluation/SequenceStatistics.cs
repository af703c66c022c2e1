using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// The per-sequence statistics of one evaluation batch: fp64 tensors of shape [B] on the batch's device, so that
/// nothing of size [B, N, V] or [B, N] is copied to the CPU. The trainer concatenates them over the evaluation into
/// <see cref="EvalOutputs"/> for <c>Trainer.ComputeMetrics</c>. Add values of your own in <see cref="Extra"/>.
/// </summary>
public sealed class SequenceStatistics
{
    /// <summary>Σ of the next-token losses of the prompt tokens of each sequence.</summary>
    public required Tensor PromptLossSum { get; init; }

    /// <summary>Number of prompt tokens predicted in each sequence.</summary>
    public required Tensor PromptTokens { get; init; }

    /// <summary>Σ of the next-token losses of the completion tokens of each sequence.</summary>
    public required Tensor CompletionLossSum { get; init; }

    /// <summary>Number of completion tokens predicted in each sequence.</summary>
    public required Tensor CompletionTokens { get; init; }

    /// <summary>Number of completion tokens of each sequence whose argmax prediction is the label.</summary>
    public required Tensor CompletionCorrect { get; init; }

    /// <summary>Number of answer tokens of each sequence predicted correctly (argmax over the answer ids only).</summary>
    public required Tensor AnswerCorrect { get; init; }

    /// <summary>Number of answer tokens of each sequence (completion positions whose label is an answer id).</summary>
    public required Tensor AnswerTotal { get; init; }

    /// <summary>The training objective's parts with the training loss weights, or null when no weights were given.</summary>
    public WeightedSequenceStatistics? Weighted { get; init; }

    /// <summary>Per-sequence values of your own ([B] tensors), by name; they reach <see cref="EvalOutputs.Extra"/>.</summary>
    public Dictionary<string, Tensor> Extra { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Per-sequence statistics from full logits: next-token losses, argmax hits, and answer hits where the argmax is
    /// taken over <paramref name="answerTokenIds"/> only; with <paramref name="weights"/> also <see cref="Weighted"/>.
    /// </summary>
    /// <param name="logits">[B, N, V] logits (logits at i predict the label at i+1).</param>
    /// <param name="batch">The batch the logits were computed from (labels and roles).</param>
    /// <param name="answerTokenIds">Token ids of the possible answers (e.g. the ids of "A".."D"); may be empty.</param>
    /// <param name="weights">[B, N] training loss weights of the batch (as <c>Batch.Weights</c> gives them); null for none.</param>
    public static SequenceStatistics FromLogits(Tensor logits, Batch batch, IReadOnlyList<long> answerTokenIds, Tensor? weights = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(answerTokenIds);
        using TokenStatistics tokens = TokenStatistics.FromLogits(logits, batch.Labels, answerTokenIds.Count > 0 ? answerTokenIds : null);
        return FromTokenStatistics(batch, tokens, answerTokenIds, weights);
    }

    /// <summary>
    /// Per-sequence statistics from <see cref="TokenStatistics"/> (for example those a loss supplies through
    /// <c>IWeightedLoss.EvaluationStatistics</c>, which for the chunked loss never builds [B, N, V] logits).
    /// </summary>
    /// <param name="batch">The batch the statistics were computed from.</param>
    /// <param name="tokens">Per-token losses and hits, [B, N-1].</param>
    /// <param name="answerTokenIds">The answer ids the restricted argmax was taken over (empty: no accuracy).</param>
    /// <param name="weights">[B, N] training loss weights; null for none.</param>
    public static SequenceStatistics FromTokenStatistics(Batch batch, TokenStatistics tokens, IReadOnlyList<long> answerTokenIds, Tensor? weights = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(answerTokenIds);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor target = batch.Labels[.., 1..];                                                          // [B, N-1]
        Tensor valid = target.ne(TokenLabels.IgnoreIndex).to(ScalarType.Float64);                       // [B, N-1]
        Tensor prompt = batch.PromptMask()[.., 1..].to(ScalarType.Float64) * valid;                      // [B, N-1]
        Tensor completion = batch.CompletionMask()[.., 1..].to(ScalarType.Float64) * valid;              // [B, N-1]
        Tensor isAnswer = answerTokenIds.Count == 0 || tokens.AnswerCorrect is null
            ? zeros_like(target, dtype: ScalarType.Bool)
            : isin(target, tensor(answerTokenIds.ToArray(), device: target.device));
        Tensor answerCorrect = tokens.AnswerCorrect is null ? isAnswer : tokens.AnswerCorrect & isAnswer;
        Tensor loss = tokens.Loss.to(ScalarType.Float64);
        Tensor PerSequence(Tensor t) => t.sum(1).MoveToOuterDisposeScope();                            // [B]
        WeightedSequenceStatistics? weighted = weights is null ? null : WeightedSequenceStatistics.From(target, loss, weights);
        if (weighted is not null)
            foreach (Tensor t in new[] { weighted.LossSum, weighted.WeightSum, weighted.WeightedTokens }) t.MoveToOuterDisposeScope();
        return new SequenceStatistics
        {
            PromptLossSum = PerSequence(loss * prompt),
            PromptTokens = PerSequence(prompt),
            CompletionLossSum = PerSequence(loss * completion),
            CompletionTokens = PerSequence(completion),
            CompletionCorrect = PerSequence(tokens.Correct.to(ScalarType.Float64) * completion),
            AnswerCorrect = PerSequence(answerCorrect.to(ScalarType.Float64) * completion),
            AnswerTotal = PerSequence(isAnswer.to(ScalarType.Float64) * completion),
            Weighted = weighted,
        };
    }

    /// <summary>Every statistic by its name in <see cref="EvalOutputs"/>, the library's own first, then <see cref="Extra"/>.</summary>
    internal IEnumerable<(string Name, Tensor Value)> Columns()
    {
        yield return (nameof(PromptLossSum), PromptLossSum);
        yield return (nameof(PromptTokens), PromptTokens);
        yield return (nameof(CompletionLossSum), CompletionLossSum);
        yield return (nameof(CompletionTokens), CompletionTokens);
        yield return (nameof(CompletionCorrect), CompletionCorrect);
        yield return (nameof(AnswerCorrect), AnswerCorrect);
        yield return (nameof(AnswerTotal), AnswerTotal);
        if (Weighted is { } w)
        {
            yield return (nameof(WeightedSequenceStatistics.LossSum), w.LossSum);
            yield return (nameof(WeightedSequenceStatistics.WeightSum), w.WeightSum);
            yield return (nameof(WeightedSequenceStatistics.WeightedTokens), w.WeightedTokens);
        }
        foreach (var (name, value) in Extra) yield return (name, value);
    }
}

/// <summary>
/// The per-sequence parts of the training objective under the training loss weights, [B] fp64 tensors aligned like the
/// training loss (the weight of the token being predicted, 0 where the label is ignored).
/// </summary>
public sealed class WeightedSequenceStatistics
{
    /// <summary>Σ wᵢℓᵢ of each sequence.</summary>
    public required Tensor LossSum { get; init; }

    /// <summary>Σ wᵢ of the predicted tokens of each sequence.</summary>
    public required Tensor WeightSum { get; init; }

    /// <summary>Number of predicted tokens of each sequence whose weight is above 0.</summary>
    public required Tensor WeightedTokens { get; init; }

    /// <summary>The weighted parts from the shifted labels [B, N-1], the fp64 next-token losses [B, N-1] and the weights [B, N].</summary>
    internal static WeightedSequenceStatistics From(Tensor target, Tensor tokenLoss, Tensor weights)
    {
        using var scope = NewDisposeScope();
        Tensor w = where(target.ne(TokenLabels.IgnoreIndex), weights[.., 1..].to(ScalarType.Float64),
            zeros(1, dtype: ScalarType.Float64, device: weights.device));                               // [B, N-1], 0 where ignored
        return new WeightedSequenceStatistics
        {
            LossSum = (tokenLoss * w).sum(1).MoveToOuterDisposeScope(),
            WeightSum = w.sum(1).MoveToOuterDisposeScope(),
            WeightedTokens = w.gt(0).to(ScalarType.Float64).sum(1).MoveToOuterDisposeScope(),
        };
    }
}
