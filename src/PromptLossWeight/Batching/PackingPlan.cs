namespace PromptLossWeight.Batching;

/// <summary>
/// Which examples go into which packed row: the output of <see cref="PackingPlanner"/> and the input of
/// <see cref="PackingCollator"/>.
/// </summary>
public sealed class PackingPlan
{
    /// <summary>Creates a plan.</summary>
    /// <param name="rows">For each row, the indices of its examples in the order they are laid out.</param>
    /// <param name="rowLength">The capacity of every row in tokens.</param>
    /// <param name="realTokens">The number of example tokens placed (all rows together).</param>
    public PackingPlan(IReadOnlyList<IReadOnlyList<int>> rows, int rowLength, long realTokens)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rowLength < 1) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "The row length must be at least 1.");
        Rows = rows;
        RowLength = rowLength;
        RealTokens = realTokens;
    }

    /// <summary>For each row, the indices of its examples, in layout order.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Rows { get; }

    /// <summary>The capacity of every row in tokens.</summary>
    public int RowLength { get; }

    /// <summary>Tokens of the examples (padding excluded).</summary>
    public long RealTokens { get; }

    /// <summary>Rows × row length.</summary>
    public long Capacity => (long)Rows.Count * RowLength;

    /// <summary>Packing efficiency: real tokens / row capacity (1 when there are no rows).</summary>
    public double Efficiency => Capacity == 0 ? 1.0 : (double)RealTokens / Capacity;
}
