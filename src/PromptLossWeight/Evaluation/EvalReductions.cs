using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// Reduces an evaluation batch to small per-sequence statistics on the batch's device, so that nothing of size
/// [B, N, V] or [B, N] ever has to be copied to the CPU. The result maps the <see cref="EvalStatisticKeys"/> to
/// fp64 tensors of shape [B].
/// </summary>
public static class EvalReductions
{
    /// <summary>
    /// Per-sequence statistics from full logits: next-token losses, argmax hits, and answer hits where the
    /// argmax is taken over <paramref name="answerTokenIds"/> only.
    /// </summary>
    /// <param name="logits">[B, N, V] logits (logits at i predict the label at i+1).</param>
    /// <param name="batch">The batch the logits were computed from (labels and roles).</param>
    /// <param name="answerTokenIds">Token ids of the possible answers (e.g. the ids of "A".."D"); may be empty.</param>
    public static Dictionary<string, Tensor> FromLogits(Tensor logits, Batch batch, IReadOnlyList<long> answerTokenIds) =>
        FromLogits(logits, batch, answerTokenIds, null);

    /// <summary>
    /// The statistics of <see cref="FromLogits(Tensor, Batch, IReadOnlyList{long})"/>, and with <paramref name="weights"/>
    /// the weighted ones (<see cref="EvalStatisticKeys.WeightedLossSum"/>, <see cref="EvalStatisticKeys.WeightSum"/>,
    /// <see cref="EvalStatisticKeys.WeightedTokens"/>).
    /// </summary>
    /// <param name="logits">[B, N, V] logits.</param>
    /// <param name="batch">The batch the logits were computed from.</param>
    /// <param name="answerTokenIds">Token ids of the possible answers; may be empty.</param>
    /// <param name="weights">[B, N] training loss weights of the batch (as <c>Batch.Weights</c> gives them); null for none.</param>
    public static Dictionary<string, Tensor> FromLogits(Tensor logits, Batch batch, IReadOnlyList<long> answerTokenIds, Tensor? weights)
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
    public static Dictionary<string, Tensor> FromTokenStatistics(Batch batch, TokenStatistics tokens, IReadOnlyList<long> answerTokenIds) =>
        FromTokenStatistics(batch, tokens, answerTokenIds, null);

    /// <summary>
    /// The statistics of <see cref="FromTokenStatistics(Batch, TokenStatistics, IReadOnlyList{long})"/>, and with
    /// <paramref name="weights"/> the weighted ones (see <see cref="FromLogits(Tensor, Batch, IReadOnlyList{long}, Tensor)"/>).
    /// </summary>
    /// <param name="batch">The batch the statistics were computed from.</param>
    /// <param name="tokens">Per-token losses and hits, [B, N-1].</param>
    /// <param name="answerTokenIds">The answer ids the restricted argmax was taken over (empty: no accuracy).</param>
    /// <param name="weights">[B, N] training loss weights; null for none.</param>
    public static Dictionary<string, Tensor> FromTokenStatistics(Batch batch, TokenStatistics tokens, IReadOnlyList<long> answerTokenIds, Tensor? weights)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(answerTokenIds);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor target = batch.Labels[.., 1..];                                                   // [B, N-1]
        Tensor isAnswer = answerTokenIds.Count == 0 || tokens.AnswerCorrect is null
            ? zeros_like(target, dtype: ScalarType.Bool)
            : isin(target, tensor(answerTokenIds.ToArray(), device: target.device));
        Tensor answerCorrect = tokens.AnswerCorrect is null ? isAnswer : tokens.AnswerCorrect & isAnswer;
        var result = FromTokenStatistics(batch, tokens.Loss, tokens.Correct, answerCorrect, isAnswer);
        if (weights is not null) AddWeighted(result, batch, tokens.Loss, weights);
        foreach (Tensor t in result.Values) t.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>
    /// Adds the per-sequence Σ wᵢℓᵢ, Σ wᵢ and #{wᵢ &gt; 0} of the shifted, non-ignored tokens to <paramref name="statistics"/>
    /// (<see cref="EvalStatisticKeys.WeightedLossSum"/>, <see cref="EvalStatisticKeys.WeightSum"/>,
    /// <see cref="EvalStatisticKeys.WeightedTokens"/>), with the same weight alignment as the training loss.
    /// </summary>
    /// <param name="statistics">The per-sequence statistics to add to.</param>
    /// <param name="batch">The batch (labels).</param>
    /// <param name="tokenLoss">[B, N-1] next-token losses.</param>
    /// <param name="weights">[B, N] training loss weights.</param>
    public static void AddWeighted(Dictionary<string, Tensor> statistics, Batch batch, Tensor tokenLoss, Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor valid = batch.Labels[.., 1..].ne(TokenLabels.IgnoreIndex);
        Tensor w = where(valid, weights[.., 1..].to(ScalarType.Float64), zeros(1, dtype: ScalarType.Float64, device: weights.device)); // [B, N-1], 0 where ignored
        statistics[EvalStatisticKeys.WeightedLossSum] = (tokenLoss.to(ScalarType.Float64) * w).sum(1).MoveToOuterDisposeScope();
        statistics[EvalStatisticKeys.WeightSum] = w.sum(1).MoveToOuterDisposeScope();
        statistics[EvalStatisticKeys.WeightedTokens] = w.gt(0).to(ScalarType.Float64).sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-sequence statistics from per-token values that were already computed (for example by a chunked loss
    /// that never builds [B, N, V] logits). All inputs are [B, N-1] and aligned with the shifted labels
    /// (<c>labels[:, 1:]</c>); ignored labels are excluded here.
    /// </summary>
    /// <param name="batch">The batch (labels, roles and attention mask).</param>
    /// <param name="tokenLoss">[B, N-1] next-token losses.</param>
    /// <param name="tokenCorrect">[B, N-1] bool: the argmax prediction equals the label.</param>
    /// <param name="answerCorrect">[B, N-1] bool: an answer position whose restricted argmax equals the label.</param>
    /// <param name="isAnswer">[B, N-1] bool: the label is one of the answer ids.</param>
    public static Dictionary<string, Tensor> FromTokenStatistics(Batch batch, Tensor tokenLoss, Tensor tokenCorrect, Tensor answerCorrect, Tensor isAnswer)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor valid = batch.Labels[.., 1..].ne(TokenLabels.IgnoreIndex).to(ScalarType.Float64);  // [B, N-1]
        Tensor prompt = batch.PromptMask()[.., 1..].to(ScalarType.Float64) * valid;                          // [B, N-1]
        Tensor completion = batch.CompletionMask()[.., 1..].to(ScalarType.Float64) * valid;                  // [B, N-1]
        Tensor loss = tokenLoss.to(ScalarType.Float64);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            [EvalStatisticKeys.PromptLossSum] = (loss * prompt).sum(1),
            [EvalStatisticKeys.PromptTokens] = prompt.sum(1),
            [EvalStatisticKeys.CompletionLossSum] = (loss * completion).sum(1),
            [EvalStatisticKeys.CompletionTokens] = completion.sum(1),
            [EvalStatisticKeys.CompletionCorrect] = (tokenCorrect.to(ScalarType.Float64) * completion).sum(1),
            [EvalStatisticKeys.AnswerCorrect] = (answerCorrect.to(ScalarType.Float64) * completion).sum(1),
            [EvalStatisticKeys.AnswerTotal] = (isAnswer.to(ScalarType.Float64) * completion).sum(1),
        };
        foreach (Tensor t in result.Values) t.MoveToOuterDisposeScope();
        return result;
    }
}
