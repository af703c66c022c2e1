using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Batching;

/// <summary>
/// A collated batch of sequences, all tensors [B, N] on one device. Padding has attention mask 0 and label
/// <see cref="TokenLabels.IgnoreIndex"/> (so has the first token of each packed document); its role reads
/// <see cref="TokenRole.User"/>, but the prompt and completion masks and the weights are 0 there. Dispose it when done
/// (it owns its tensors).
/// </summary>
public sealed class Batch : IDisposable
{
    /// <summary>Creates a batch from tensors it takes ownership of.</summary>
    public Batch(Tensor inputIds, Tensor documentIds, Tensor positionIds, Tensor labels, Tensor roles)
        : this(inputIds, documentIds, positionIds, labels, roles, null)
    {
    }

    /// <summary>Creates a batch from tensors it takes ownership of, with the data weights of its tokens (null: all 1).</summary>
    public Batch(Tensor inputIds, Tensor documentIds, Tensor positionIds, Tensor labels, Tensor roles, Tensor? dataWeights)
    {
        InputIds = inputIds;
        DocumentIds = documentIds;
        PositionIds = positionIds;
        Labels = labels;
        Roles = roles;
        DataWeights = dataWeights;
    }

    /// <summary>[B, N] int64 token ids (padding uses the pad id).</summary>
    public Tensor InputIds { get; }

    /// <summary>[B, N] int64: 0 on padding, otherwise the document id (1 for a padded batch, 1..k in a packed row).</summary>
    public Tensor DocumentIds { get; }

    /// <summary>[B, N] int64 positions within each document.</summary>
    public Tensor PositionIds { get; }

    /// <summary>[B, N] int64 labels: the input ids, with <see cref="TokenLabels.IgnoreIndex"/> (-100) on padding and on the first token of each packed document.</summary>
    public Tensor Labels { get; }

    /// <summary>[B, N] int64 <see cref="TokenRole"/> of each token (padding: <see cref="TokenRole.User"/>, but its label is ignored).</summary>
    public Tensor Roles { get; }

    /// <summary>
    /// [B, N] fp32 weights the data gives each token (<see cref="MaskedExample.DataWeights"/>: message, example and span
    /// weights), which multiply the role weights in <see cref="Weights(RoleWeights)"/>; null when every token has data
    /// weight 1.
    /// </summary>
    public Tensor? DataWeights { get; }

    /// <summary>Number of rows.</summary>
    public long Size => InputIds.shape[0];

    /// <summary>Row length (tokens per row, padding included).</summary>
    public long Length => InputIds.shape[1];

    /// <summary>[B, N] fp32: 1 on real prompt tokens, else 0.</summary>
    public Tensor PromptMask()
    {
        using var scope = NewDisposeScope();
        return (Roles.ne((long)TokenRole.Assistant) & DocumentIds.ne(0)).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>[B, N] fp32: 1 on completion tokens, else 0.</summary>
    public Tensor CompletionMask()
    {
        using var scope = NewDisposeScope();
        return (Roles.eq((long)TokenRole.Assistant) & DocumentIds.ne(0)).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>[B, N] fp32 loss weights: PLW on prompt tokens, 1 on completion tokens, times the data weights, 0 on padding.</summary>
    public Tensor Weights(double promptLossWeight) => Weights(RoleWeights.ForPromptLossWeight(promptLossWeight));

    /// <summary>[B, N] fp32 loss weights from a weight per role times the data weights (<see cref="DataWeights"/>), 0 on padding.</summary>
    public Tensor Weights(RoleWeights roleWeights)
    {
        roleWeights.Validate();
        using var scope = NewDisposeScope();
        Tensor table = tensor(new[] { (float)roleWeights.System, (float)roleWeights.User, (float)roleWeights.Assistant }, device: Roles.device);
        Tensor w = table.index_select(0, Roles.flatten()).reshape(Roles.shape);
        if (DataWeights is not null) w = w * DataWeights;
        return (w * DocumentIds.ne(0).to(ScalarType.Float32)).MoveToOuterDisposeScope();
    }

    /// <summary>A copy of this batch on <paramref name="device"/>.</summary>
    public Batch To(Device device) =>
        new(InputIds.to(device), DocumentIds.to(device), PositionIds.to(device), Labels.to(device), Roles.to(device), DataWeights?.to(device));

    /// <summary>Rows <paramref name="start"/> to <paramref name="start"/>+<paramref name="count"/> as a new batch (for micro-batching).</summary>
    public Batch Rows(long start, long count) =>
        new(InputIds.narrow(0, start, count).clone(), DocumentIds.narrow(0, start, count).clone(), PositionIds.narrow(0, start, count).clone(),
            Labels.narrow(0, start, count).clone(), Roles.narrow(0, start, count).clone(), DataWeights?.narrow(0, start, count).clone());

    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        DocumentIds.Dispose();
        PositionIds.Dispose();
        Labels.Dispose();
        Roles.Dispose();
        DataWeights?.Dispose();
    }
}
