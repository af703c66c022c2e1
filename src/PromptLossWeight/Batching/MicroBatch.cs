using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Batching;

/// <summary>
/// The examples of one forward/backward pass, as planned: either padded (one example per row) or packed, in which
/// case the micro-batch carries its rows (<see cref="Packing"/>), so collation lays them out as planned and never
/// plans again.
/// </summary>
public sealed class MicroBatch
{
    /// <summary>Creates a micro-batch.</summary>
    /// <param name="examples">The examples; at least one.</param>
    /// <param name="packing">For a packed micro-batch, its rows as indices into <paramref name="examples"/>; null: padded.</param>
    public MicroBatch(IReadOnlyList<MaskedExample> examples, PackingPlan? packing = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("A micro-batch needs at least one example.", nameof(examples));
        if (packing is not null && packing.Rows.Count == 0) throw new ArgumentException("A packed micro-batch needs at least one row.", nameof(packing));
        Examples = examples;
        Packing = packing;
    }

    /// <summary>The examples (for a packed micro-batch, in the order the rows refer to them).</summary>
    public IReadOnlyList<MaskedExample> Examples { get; }

    /// <summary>The packed rows (indices into <see cref="Examples"/>), or null for a padded micro-batch.</summary>
    public PackingPlan? Packing { get; }

    /// <summary>Rows of the collated batch: the packed rows, or one per example.</summary>
    public int RowCount => Packing?.Rows.Count ?? Examples.Count;

    /// <summary>
    /// The batch: <see cref="PackingCollator.Collate"/> of the carried rows when packed, otherwise
    /// <see cref="PaddingCollator.Pad"/>.
    /// </summary>
    /// <param name="padId">Token id written into padding positions.</param>
    /// <param name="device">Where the tensors go; null for the CPU.</param>
    public Batch Collate(long padId = 0, Device? device = null) =>
        Packing is PackingPlan plan
            ? PackingCollator.Collate(Examples, plan, 0, plan.Rows.Count, padId, device)
            : PaddingCollator.Pad(Examples, padId, device);

    /// <summary>
    /// Cuts an ordered list of examples into padded micro-batches of <paramref name="batchSize"/> examples (the last
    /// may be smaller).
    /// </summary>
    public static IReadOnlyList<MicroBatch> Padded(IReadOnlyList<MaskedExample> examples, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        return examples.Chunk(batchSize).Select(group => new MicroBatch(group)).ToList();
    }

    /// <summary>
    /// Cuts the rows of <paramref name="plan"/> (indices into <paramref name="examples"/>) into packed micro-batches of
    /// <paramref name="rowsPerBatch"/> rows (the last may have fewer), each carrying its own rows.
    /// </summary>
    public static IReadOnlyList<MicroBatch> Packed(IReadOnlyList<MaskedExample> examples, PackingPlan plan, int rowsPerBatch)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(plan);
        if (rowsPerBatch < 1) throw new ArgumentOutOfRangeException(nameof(rowsPerBatch), rowsPerBatch, "The rows per batch must be at least 1.");
        var batches = new List<MicroBatch>();
        foreach (IReadOnlyList<int>[] rows in plan.Rows.Chunk(rowsPerBatch))
        {
            var own = new List<MaskedExample>();
            var ownRows = new List<IReadOnlyList<int>>();
            long tokens = 0;
            foreach (IReadOnlyList<int> row in rows)
            {
                var indices = new int[row.Count];
                for (int k = 0; k < row.Count; k++)
                {
                    MaskedExample e = examples[row[k]];
                    indices[k] = own.Count;
                    own.Add(e);
                    tokens += e.Length;
                }
                ownRows.Add(indices);
            }
            batches.Add(new MicroBatch(own, new PackingPlan(ownRows, plan.RowLength, tokens)));
        }
        return batches;
    }
}
