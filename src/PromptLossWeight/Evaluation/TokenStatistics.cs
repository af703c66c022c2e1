using PromptLossWeight.Batching;
using PromptLossWeight.Loss;
using PromptLossWeight.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// Per-token evaluation statistics of a batch, aligned with <see cref="WeightedCrossEntropy.PerToken"/> (entry (b, i)
/// is the prediction of label i+1 from position i). Owns its tensors: dispose it, or move them out of it.
/// </summary>
public sealed class TokenStatistics : IDisposable
{
    /// <summary>Creates the statistics from tensors it takes ownership of.</summary>
    public TokenStatistics(Tensor loss, Tensor correct, Tensor? answerCorrect)
    {
        Loss = loss;
        Correct = correct;
        AnswerCorrect = answerCorrect;
    }

    /// <summary>[B, N-1] fp32 cross-entropy of each prediction; 0 where the label is ignored.</summary>
    public Tensor Loss { get; }

    /// <summary>[B, N-1] bool: the argmax over the whole vocabulary equals the label; false where the label is ignored.</summary>
    public Tensor Correct { get; }

    /// <summary>
    /// [B, N-1] bool: the argmax over the answer token ids only (for example the ids of "A".."D") equals the label;
    /// false where the label is ignored. Null when no answer ids were given.
    /// </summary>
    public Tensor? AnswerCorrect { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        Loss.Dispose();
        Correct.Dispose();
        AnswerCorrect?.Dispose();
    }
}

/// <summary>
/// Evaluation statistics computed chunk by chunk from hidden states, so evaluation never holds [B, N, V] logits:
/// per-token losses, whether the argmax is right, and whether the argmax restricted to a set of answer ids is right.
/// Runs without gradients. The <c>Trainer</c>'s evaluation reduces these per-token tensors to per-sequence sums.
/// </summary>
public static class ChunkedTokenStatistics
{
    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="batch"/> and returns its per-token statistics: from hidden states
    /// chunk by chunk when the model is an <see cref="IHiddenStateLanguageModel"/>, otherwise from full logits.
    /// </summary>
    /// <param name="model">The model to evaluate.</param>
    /// <param name="batch">The batch (labels give the targets; -100 marks ignored tokens).</param>
    /// <param name="answerTokenIds">Token ids among which <see cref="TokenStatistics.AnswerCorrect"/> takes the argmax; null for none.</param>
    /// <param name="chunkSize">Token rows projected onto the vocabulary at once.</param>
    public static TokenStatistics Compute(ICausalLanguageModel model, Batch batch, IReadOnlyList<long>? answerTokenIds = null,
        int chunkSize = ChunkedWeightedCrossEntropy.DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        if (model is IHiddenStateLanguageModel hiddenModel)
        {
            Tensor hidden = hiddenModel.HiddenStates(batch.InputIds, batch.AttentionMask, batch.PositionIds);
            return Moved(FromHidden(hidden, hiddenModel.OutputWeight, batch.Labels, answerTokenIds, chunkSize));
        }
        Tensor logits = model.Logits(batch.InputIds, batch.AttentionMask, batch.PositionIds);
        return Moved(FromLogits(logits, batch.Labels, answerTokenIds));
    }

    /// <summary>
    /// Per-token statistics from hidden states [B, N, D] and the LM-head weight [V, D], projecting at most
    /// <paramref name="chunkSize"/> non-ignored positions at a time (ignored positions are never projected).
    /// </summary>
    /// <param name="hidden">[B, N, D] final hidden states.</param>
    /// <param name="outputWeight">[V, D] LM-head weight (same dtype and device).</param>
    /// <param name="labels">[B, N] int64; -100 marks ignored tokens.</param>
    /// <param name="answerTokenIds">Token ids for the restricted argmax; null for none.</param>
    /// <param name="chunkSize">Token rows projected at once.</param>
    public static TokenStatistics FromHidden(Tensor hidden, Tensor outputWeight, Tensor labels, IReadOnlyList<long>? answerTokenIds = null,
        int chunkSize = ChunkedWeightedCrossEntropy.DefaultChunkSize)
    {
        ChunkedWeightedCrossEntropy.ValidateChunkSize(chunkSize);
        ChunkedWeightedCrossEntropy.ValidateHiddenAndHead(hidden, outputWeight, labels);
        WeightedCrossEntropy.ValidateLogitsAndLabels(hidden, labels);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = hidden.shape[0], n = hidden.shape[1], d = hidden.shape[2], v = outputWeight.shape[0];
        Tensor answers = AnswerIds(answerTokenIds, v, hidden.device);

        Tensor target = labels[.., 1..].reshape(b * (n - 1));                                   // [B·(N-1)]
        Tensor kept = target.ne(WeightedCrossEntropy.IgnoreIndex).nonzero().squeeze(1);        // [M]
        Tensor keptTargets = target.index_select(0, kept);
        ChunkedWeightedCrossEntropy.ValidateTargets(keptTargets, v);
        Tensor rows = kept.div(n - 1, rounding_mode: RoundingMode.floor) * n + kept.remainder(n - 1);
        Tensor selected = hidden.reshape(b * n, d).index_select(0, rows);                      // [M, D]

        long m = kept.shape[0];
        Tensor loss = zeros([m], ScalarType.Float32, hidden.device);
        Tensor correct = zeros([m], ScalarType.Bool, hidden.device);
        Tensor answerCorrect = zeros([m], ScalarType.Bool, hidden.device);
        Tensor weightT = outputWeight.t();
        for (long start = 0; start < m; start += chunkSize)
        {
            using var chunkScope = NewDisposeScope();
            long count = Math.Min(chunkSize, m - start);
            Tensor t = keptTargets.narrow(0, start, count);
            Tensor logits = selected.narrow(0, start, count).matmul(weightT).to(ScalarType.Float32);  // [c, V]
            loss.narrow(0, start, count).copy_(nn.functional.cross_entropy(logits, t, reduction: nn.Reduction.None));
            correct.narrow(0, start, count).copy_(logits.argmax(1).eq(t));
            if (answerTokenIds is not null)
                answerCorrect.narrow(0, start, count).copy_(RestrictedArgmax(logits, answers).eq(t));
        }

        return new TokenStatistics(
            Scatter(loss, kept, b, n).MoveToOuterDisposeScope(),
            Scatter(correct, kept, b, n).MoveToOuterDisposeScope(),
            answerTokenIds is null ? null : Scatter(answerCorrect, kept, b, n).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The same statistics from full logits [B, N, V] (the reference for <see cref="FromHidden"/>, and the fallback
    /// for models that cannot return hidden states).
    /// </summary>
    /// <param name="logits">[B, N, V].</param>
    /// <param name="labels">[B, N] int64; -100 marks ignored tokens.</param>
    /// <param name="answerTokenIds">Token ids for the restricted argmax; null for none.</param>
    public static TokenStatistics FromLogits(Tensor logits, Tensor labels, IReadOnlyList<long>? answerTokenIds = null)
    {
        WeightedCrossEntropy.ValidateLogitsAndLabels(logits, labels);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long n = logits.shape[1];
        Tensor answers = AnswerIds(answerTokenIds, logits.shape[2], logits.device);
        Tensor predicting = logits[.., ..(int)(n - 1), ..].to(ScalarType.Float32);           // [B, N-1, V]
        Tensor target = labels[.., 1..];                                                      // [B, N-1]
        Tensor valid = target.ne(WeightedCrossEntropy.IgnoreIndex);
        Tensor loss = WeightedCrossEntropy.PerToken(logits, labels);
        Tensor correct = predicting.argmax(2).eq(target) & valid;
        Tensor? answerCorrect = answerTokenIds is null ? null : RestrictedArgmax(predicting, answers).eq(target) & valid;
        return new TokenStatistics(loss.MoveToOuterDisposeScope(), correct.MoveToOuterDisposeScope(), answerCorrect?.MoveToOuterDisposeScope());
    }

    private static TokenStatistics Moved(TokenStatistics statistics)
    {
        statistics.Loss.MoveToOuterDisposeScope();
        statistics.Correct.MoveToOuterDisposeScope();
        statistics.AnswerCorrect?.MoveToOuterDisposeScope();
        return statistics;
    }

    /// <summary>The answer id (from <paramref name="answers"/>) with the largest logit, over the last dimension.</summary>
    private static Tensor RestrictedArgmax(Tensor logits, Tensor answers)
    {
        Tensor best = logits.index_select(-1, answers).argmax(-1);   // index into answers
        return answers.index_select(0, best.flatten()).reshape(best.shape);
    }

    private static Tensor AnswerIds(IReadOnlyList<long>? answerTokenIds, long vocabularySize, Device device)
    {
        if (answerTokenIds is null) return empty([0], ScalarType.Int64, device);
        if (answerTokenIds.Count == 0)
            throw new ArgumentException("answerTokenIds must hold at least one token id (or be null).", nameof(answerTokenIds));
        foreach (long id in answerTokenIds)
            if (id < 0 || id >= vocabularySize)
                throw new ArgumentException($"answer token id {id} is outside the vocabulary [0, {vocabularySize}).", nameof(answerTokenIds));
        return tensor(answerTokenIds.ToArray(), ScalarType.Int64, device);
    }

    private static Tensor Scatter(Tensor values, Tensor kept, long b, long n)
    {
        Tensor full = zeros([b * (n - 1)], values.dtype, values.device);
        full.index_copy_(0, kept, values);
        return full.reshape(b, n - 1);
    }
}
