using PromptLossWeight.Batching;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// The prompt-loss-weighted cross-entropy of <see cref="WeightedCrossEntropy"/>, computed from the final hidden states
/// and the LM-head weight without ever building [B, N, V] logits: after the shift-by-one, only the hidden rows whose
/// predicted token has weight &gt; 0 are kept, and those are projected and reduced <see cref="ChunkSize"/> rows at a
/// time, in the forward and in the backward pass. Loss and gradients equal those of
/// <see cref="WeightedCrossEntropy.Compute(Tensor, Tensor, Tensor)"/> on full logits.
/// </summary>
/// <remarks>
/// <para>Peak memory of the loss is about <c>ChunkSize × V</c> floats (a few buffers of it) plus the gradient of the
/// head weight, instead of several [B·N, V] tensors. At PLW = 0 only completion tokens are projected, which on
/// RACE-shaped data is about 1% of the tokens.</para>
/// <para>The gradients are computed chunk by chunk during the forward pass (when gradients are enabled and the inputs
/// require them) by a custom autograd function, and backward only scales them; see the README for the design.</para>
/// <para>Models that do not implement <see cref="IHiddenStateLanguageModel"/> fall back to full logits and
/// <see cref="WeightedCrossEntropy"/>.</para>
/// </remarks>
public sealed class ChunkedWeightedCrossEntropy : IWeightedLoss
{
    /// <summary>The default number of token rows projected at once (256 rows × 32000 vocabulary ≈ 33 MB of fp32 logits).</summary>
    public const int DefaultChunkSize = TokenStatistics.DefaultChunkSize;

    /// <summary>Creates the loss with a given chunk size.</summary>
    /// <param name="chunkSize">Token rows projected onto the vocabulary at once; at least 1.</param>
    /// <param name="normalization">What the loss divides by (Σw by default).</param>
    public ChunkedWeightedCrossEntropy(int chunkSize = DefaultChunkSize, LossNormalization normalization = LossNormalization.WeightSum)
    {
        ChunkSize = LossInputChecks.ValidateChunkSize(chunkSize);
        if (!Enum.IsDefined(normalization)) throw new ArgumentOutOfRangeException(nameof(normalization), normalization, "Unknown loss normalization.");
        Normalization = normalization;
    }

    /// <inheritdoc />
    public LossNormalization Normalization { get; }

    /// <summary>Token rows projected onto the vocabulary at once.</summary>
    public int ChunkSize { get; }

    /// <inheritdoc />
    public Tensor Compute(ICausalLanguageModel model, Batch batch, Tensor weights, double? normalizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        Tensor loss;
        if (model is IHiddenStateLanguageModel hiddenModel)
        {
            Tensor hidden = hiddenModel.HiddenStates(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            loss = Compute(hidden, hiddenModel.OutputWeight, batch.Labels, weights, normalizer, ChunkSize, Normalization, hiddenModel.LogitSoftcap);
        }
        else
        {
            loss = new LogitsWeightedLoss(Normalization).Compute(model, batch, weights, normalizer);
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-token evaluation statistics from hidden states chunk by chunk (<see cref="TokenStatistics.FromHiddenStates"/>,
    /// <see cref="ChunkSize"/> rows at a time) when the model is an <see cref="IHiddenStateLanguageModel"/>, so
    /// evaluation never holds [B, N, V] logits either; otherwise from full logits.
    /// </summary>
    public TokenStatistics EvaluationStatistics(ICausalLanguageModel model, Batch batch, IReadOnlyList<long>? answerTokenIds)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        if (model is IHiddenStateLanguageModel hiddenModel)
        {
            Tensor hidden = hiddenModel.HiddenStates(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            return IWeightedLoss.Moved(TokenStatistics.FromHiddenStates(hidden, hiddenModel.OutputWeight, batch.Labels, answerTokenIds, ChunkSize,
                hiddenModel.LogitSoftcap));
        }
        Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
        return IWeightedLoss.Moved(TokenStatistics.FromLogits(logits, batch.Labels, answerTokenIds, ChunkSize));
    }

    /// <summary>
    /// Σ wᵢℓᵢ / normaliser from hidden states: the same value and gradients as
    /// <see cref="WeightedCrossEntropy.Compute(Tensor, Tensor, Tensor)"/> applied to <c>hidden · outputWeightᵀ</c>.
    /// </summary>
    /// <param name="hidden">[B, N, D] final hidden states (fp32, bf16 or fp16).</param>
    /// <param name="outputWeight">[V, D] LM-head weight, same dtype and device as <paramref name="hidden"/>.</param>
    /// <param name="labels">[B, N] int64 token ids; <see cref="WeightedCrossEntropy.IgnoreIndex"/> marks ignored tokens.</param>
    /// <param name="weights">[B, N] finite weights ≥ 0 (the weight of each token as a prediction target).</param>
    /// <param name="normalizer">The divisor; null means that of this batch under <paramref name="normalization"/> (the loss is 0 when it is 0). Must be finite and ≥ 0.</param>
    /// <param name="chunkSize">Token rows projected onto the vocabulary at once.</param>
    /// <param name="normalization">The divisor when <paramref name="normalizer"/> is null: Σw, or the number of weighted tokens.</param>
    /// <param name="logitSoftcap">When set, the logits are <c>c · tanh((hidden · outputWeightᵀ) / c)</c> (Gemma 2).</param>
    /// <returns>A fp32 scalar; 0 with zero gradients when nothing has weight.</returns>
    public static Tensor Compute(Tensor hidden, Tensor outputWeight, Tensor labels, Tensor weights, double? normalizer = null,
        int chunkSize = DefaultChunkSize, LossNormalization normalization = LossNormalization.WeightSum, double? logitSoftcap = null)
    {
        if (logitSoftcap is double c && !(c > 0 && double.IsFinite(c)))
            throw new ArgumentOutOfRangeException(nameof(logitSoftcap), c, "The logit soft-cap must be a positive number.");
        LossInputChecks.ValidateChunkSize(chunkSize);
        if (normalizer is double given) WeightedCrossEntropy.ValidateNormalizer(given);
        LossInputChecks.ValidateHiddenAndHead(hidden, outputWeight, labels);
        WeightedCrossEntropy.Validate(hidden, labels, weights, "hidden states");

        using var scope = NewDisposeScope();
        var selection = SelectPredictingRows(hidden, labels, weights);
        LossInputChecks.ValidateTargets(selection.Targets, outputWeight.shape[0]);

        Tensor scale;
        using (no_grad())
        {
            if (normalizer is double n) scale = n > 0 ? selection.Weights / n : zeros_like(selection.Weights);
            else
            {
                // the kept rows are exactly those with w > 0, so their count is #{w > 0}
                Tensor total = normalization == LossNormalization.NonZeroTokens
                    ? full(1, (double)selection.Weights.shape[0], dtype: selection.Weights.dtype, device: selection.Weights.device).squeeze()
                    : selection.Weights.sum();
                scale = where(total > 0, selection.Weights / total.clamp_min(1e-30), zeros_like(selection.Weights));
            }
        }

        bool gradEnabled = is_grad_enabled();
        bool needHidden = gradEnabled && hidden.requires_grad;
        bool needWeight = gradEnabled && outputWeight.requires_grad;
        // The head goes in through a view: its gradient then reaches the parameter through a C++ view node, and autograd
        // can adopt that gradient as .grad instead of copying it (a gradient handed back from C# keeps an extra reference
        // while autograd accumulates it, which would force a copy of the whole [V, D] gradient).
        Tensor head = needWeight ? outputWeight.view(outputWeight.shape) : outputWeight;
        Tensor loss = LinearCrossEntropyFunction.apply(selection.Hidden, head, selection.Targets, scale, chunkSize, needHidden, needWeight,
            logitSoftcap ?? 0.0);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The shifted rows that carry weight: hidden row i of a sequence predicts label i+1, and it is kept only when that
    /// label is not ignored and its weight is &gt; 0.
    /// </summary>
    internal static (Tensor Hidden, Tensor Targets, Tensor Weights) SelectPredictingRows(Tensor hidden, Tensor labels, Tensor weights)
    {
        long b = hidden.shape[0], n = hidden.shape[1], d = hidden.shape[2];
        Tensor rows;      // [M] indices into the flattened [B·N] positions
        Tensor targets;   // [M]
        Tensor w;         // [M] fp32
        using (no_grad())
        {
            Tensor shifted = WeightedCrossEntropy.ShiftedWeights(labels, weights).reshape(b * (n - 1)); // [B·(N-1)]
            Tensor kept = shifted.gt(0).nonzero().squeeze(1);                                             // [M]
            w = shifted.index_select(0, kept);
            targets = ShiftedGrid.Targets(labels).index_select(0, kept);
            rows = ShiftedGrid.PredictingPositions(kept, n);
        }
        Tensor selected = hidden.reshape(b * n, d).index_select(0, rows);                                 // [M, D]
        return (selected, targets, w);
    }
}
