using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// Per-token evaluation statistics of a batch, aligned with the shifted labels (entry (b, i) is the prediction of label
/// i+1 from position i): the next-token loss, whether the argmax is right, and whether the argmax restricted to a set of
/// answer ids is right. One implementation serves full logits (<see cref="FromLogits"/>) and hidden states
/// (<see cref="FromHiddenStates"/>, which never builds [B, N, V] logits). Owns its tensors: dispose it.
/// </summary>
public sealed class TokenStatistics : IDisposable
{
    /// <summary>The default number of token rows projected onto the vocabulary at once.</summary>
    public const int DefaultChunkSize = 256;

    /// <summary>Creates the statistics from tensors it takes ownership of.</summary>
    public TokenStatistics(Tensor loss, Tensor correct, Tensor? answerCorrect)
    {
        Loss = loss;
        Correct = correct;
        AnswerCorrect = answerCorrect;
    }

    /// <summary>[B, N-1] cross-entropy of each prediction (fp32; fp64 for fp64 inputs); 0 where the label is ignored.</summary>
    public Tensor Loss { get; }

    /// <summary>[B, N-1] bool: the argmax over the whole vocabulary equals the label; false where the label is ignored.</summary>
    public Tensor Correct { get; }

    /// <summary>
    /// [B, N-1] bool: the argmax over the answer token ids only (for example the ids of "A".."D") equals the label;
    /// false where the label is ignored. Null when no answer ids were given.
    /// </summary>
    public Tensor? AnswerCorrect { get; }

    /// <summary>Statistics from full logits [B, N, V] (logits at i predict the label at i+1). Runs without gradients.</summary>
    /// <param name="logits">[B, N, V].</param>
    /// <param name="labels">[B, N] int64; <see cref="TokenLabels.IgnoreIndex"/> marks ignored tokens.</param>
    /// <param name="answerTokenIds">Token ids for the restricted argmax; null for none.</param>
    /// <param name="chunkSize">Token rows reduced at once.</param>
    public static TokenStatistics FromLogits(Tensor logits, Tensor labels, IReadOnlyList<long>? answerTokenIds = null, int chunkSize = DefaultChunkSize)
    {
        LossInputChecks.ValidateChunkSize(chunkSize);
        LossInputChecks.ValidateLogitsAndLabels(logits, labels);
        long b = logits.shape[0], n = logits.shape[1], v = logits.shape[2];
        return FromRows(logits.reshape(b * n, v), rows => rows, v, labels, answerTokenIds, chunkSize);
    }

    /// <summary>
    /// Statistics from hidden states [B, N, D] and the LM-head weight [V, D]: at most <paramref name="chunkSize"/>
    /// non-ignored positions are projected onto the vocabulary at a time (ignored positions never are). Runs without gradients.
    /// </summary>
    /// <param name="hidden">[B, N, D] final hidden states.</param>
    /// <param name="outputWeight">[V, D] LM-head weight (same dtype and device).</param>
    /// <param name="labels">[B, N] int64; <see cref="TokenLabels.IgnoreIndex"/> marks ignored tokens.</param>
    /// <param name="answerTokenIds">Token ids for the restricted argmax; null for none.</param>
    /// <param name="chunkSize">Token rows projected at once.</param>
    /// <param name="logitSoftcap">When set, the logits are soft-capped as <c>c · tanh(logits / c)</c> (Gemma 2).</param>
    public static TokenStatistics FromHiddenStates(Tensor hidden, Tensor outputWeight, Tensor labels, IReadOnlyList<long>? answerTokenIds = null,
        int chunkSize = DefaultChunkSize, double? logitSoftcap = null)
    {
        LossInputChecks.ValidateChunkSize(chunkSize);
        LossInputChecks.ValidateHiddenAndHead(hidden, outputWeight, labels);
        LossInputChecks.ValidateLogitsAndLabels(hidden, labels, "hidden states");
        long b = hidden.shape[0], n = hidden.shape[1], d = hidden.shape[2];
        Tensor weightT = outputWeight.t();                                                      // [D, V]
        Func<Tensor, Tensor> toLogits = logitSoftcap is double cap
            ? rows => (rows.matmul(weightT) / cap).tanh() * cap                                 // soft-capped logits (Gemma 2)
            : rows => rows.matmul(weightT);
        return FromRows(hidden.reshape(b * n, d), toLogits, outputWeight.shape[0], labels, answerTokenIds, chunkSize);
    }

    /// <summary>
    /// The one implementation: <paramref name="source"/> holds one row per position ([B·N, X]); <paramref name="toLogits"/>
    /// maps a chunk of rows to their [c, V] logits. Only rows whose next label is kept are reduced.
    /// </summary>
    private static TokenStatistics FromRows(Tensor source, Func<Tensor, Tensor> toLogits, long vocabularySize, Tensor labels,
        IReadOnlyList<long>? answerTokenIds, int chunkSize)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = labels.shape[0], n = labels.shape[1];
        ScalarType accumulation = source.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor answers = AnswerIds(answerTokenIds, vocabularySize, source.device);

        Tensor target = ShiftedGrid.Targets(labels);                                            // [B·(N-1)]
        Tensor kept = target.ne(TokenLabels.IgnoreIndex).nonzero().squeeze(1);                 // [M]
        Tensor keptTargets = target.index_select(0, kept);
        LossInputChecks.ValidateTargets(keptTargets, vocabularySize);
        Tensor rows = ShiftedGrid.PredictingPositions(kept, n);                                // [M] into [B·N]

        long m = kept.shape[0];
        Tensor loss = zeros([m], accumulation, source.device);
        Tensor correct = zeros([m], ScalarType.Bool, source.device);
        Tensor answerCorrect = zeros([m], ScalarType.Bool, source.device);
        for (long start = 0; start < m; start += chunkSize)
        {
            using var chunkScope = NewDisposeScope();
            long count = Math.Min(chunkSize, m - start);
            Tensor t = keptTargets.narrow(0, start, count);
            Tensor logits = toLogits(source.index_select(0, rows.narrow(0, start, count))).to(accumulation);   // [c, V]
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

    /// <inheritdoc />
    public void Dispose()
    {
        Loss.Dispose();
        Correct.Dispose();
        AnswerCorrect?.Dispose();
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
                throw new ArgumentException($"Answer token id {id} is outside the model's vocabulary of {vocabularySize} tokens.", nameof(answerTokenIds));
        return tensor(answerTokenIds.ToArray(), ScalarType.Int64, device);
    }

    private static Tensor Scatter(Tensor values, Tensor kept, long b, long n)
    {
        Tensor full = zeros([b * (n - 1)], values.dtype, values.device);
        full.index_copy_(0, kept, values);
        return full.reshape(b, n - 1);
    }
}
