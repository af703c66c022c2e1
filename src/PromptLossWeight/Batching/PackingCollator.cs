using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Batching;

/// <summary>
/// Collates <see cref="MaskedExample"/>s into packed rows: several documents per row, each with its own position ids
/// (restarting at 0) and its own document id in the attention mask (1, 2, … per row; 0 on padding), so a model that
/// honours the mask convention of <see cref="Models.ICausalLanguageModel"/> never lets a token see another document.
/// </summary>
/// <remarks>
/// Labels are -100 on padding and on the first token of every document: with the shift-by-one, that token would
/// otherwise be predicted from the last token of the previous document. In a padded batch the first token is never
/// predicted either, so a packed batch has exactly the loss terms of the same examples padded. Roles are packed along,
/// so <see cref="Batch.Weights(double)"/> gives the same per-token weights.
/// </remarks>
public static class PackingCollator
{
    /// <summary>Plans the rows with <see cref="PackingPlanner.BestFitDecreasing"/> and collates them.</summary>
    /// <param name="examples">The examples; each at most <paramref name="rowLength"/> tokens.</param>
    /// <param name="rowLength">Tokens per row.</param>
    /// <param name="padId">Token id written into padding positions.</param>
    /// <param name="device">Where the tensors go; null for the CPU.</param>
    /// <returns>The packed batch (all rows of the plan) and the plan (with its packing efficiency).</returns>
    public static (Batch Batch, PackingPlan Plan) Pack(IReadOnlyList<MaskedExample> examples, int rowLength, long padId = 0, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("Cannot pack an empty list of examples.", nameof(examples));
        PackingPlan plan = PackingPlanner.BestFitDecreasing(examples.Select(e => e.Length).ToArray(), rowLength);
        return (Collate(examples, plan, 0, plan.Rows.Count, padId, device), plan);
    }

    /// <summary>
    /// Collates rows <paramref name="firstRow"/> .. <paramref name="firstRow"/>+<paramref name="rowCount"/>-1 of
    /// <paramref name="plan"/> into a [rowCount, RowLength] batch (use a row range to split a plan into batches).
    /// </summary>
    /// <param name="examples">The examples the plan indexes into.</param>
    /// <param name="plan">The packing plan.</param>
    /// <param name="firstRow">The first row of the plan to collate.</param>
    /// <param name="rowCount">How many rows; at least 1.</param>
    /// <param name="padId">Token id written into padding positions.</param>
    /// <param name="device">Where the tensors go; null for the CPU.</param>
    public static Batch Collate(IReadOnlyList<MaskedExample> examples, PackingPlan plan, int firstRow, int rowCount, long padId = 0, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(plan);
        if (rowCount < 1 || firstRow < 0 || firstRow + rowCount > plan.Rows.Count)
            throw new ArgumentOutOfRangeException(nameof(rowCount), $"Rows {firstRow}..{firstRow + rowCount - 1} are outside the plan's {plan.Rows.Count} rows.");

        int n = plan.RowLength;
        var ids = new long[rowCount * n];
        var mask = new long[rowCount * n];
        var positions = new long[rowCount * n];
        var labels = new long[rowCount * n];
        var roles = new long[rowCount * n];
        float[]? data = examples.Any(e => e.DataWeights is not null) ? new float[rowCount * n] : null;
        Array.Fill(ids, padId);
        Array.Fill(labels, TokenLabels.IgnoreIndex);
        Array.Fill(roles, (long)TokenRole.User);

        for (int row = 0; row < rowCount; row++)
        {
            int offset = row * n, used = 0, document = 0;
            foreach (int index in plan.Rows[firstRow + row])
            {
                if (index < 0 || index >= examples.Count)
                    throw new ArgumentException($"The plan refers to example {index}, but there are {examples.Count} examples.", nameof(plan));
                MaskedExample e = examples[index];
                if (used + e.Length > n)
                    throw new ArgumentException($"Row {firstRow + row} of the plan overflows its length {n} at example {index}.", nameof(plan));
                document++;
                for (int i = 0; i < e.Length; i++)
                {
                    int k = offset + used + i;
                    ids[k] = e.InputIds[i];
                    mask[k] = document;
                    positions[k] = i;
                    labels[k] = i == 0 ? TokenLabels.IgnoreIndex : e.InputIds[i];
                    roles[k] = (long)e.Roles[i];
                    if (data is not null) data[k] = e.DataWeight(i);
                }
                used += e.Length;
            }
            for (int i = used; i < n; i++) positions[offset + i] = i - used;
        }

        Device target = device ?? CPU;
        long[] shape = [rowCount, n];
        return new Batch(tensor(ids, shape, device: target), tensor(mask, shape, device: target), tensor(positions, shape, device: target),
            tensor(labels, shape, device: target), tensor(roles, shape, device: target),
            data is null ? null : tensor(data, shape, device: target));
    }
}
