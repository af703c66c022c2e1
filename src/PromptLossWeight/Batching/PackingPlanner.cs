namespace PromptLossWeight.Batching;

/// <summary>Decides how examples are packed into rows of a fixed length.</summary>
public static class PackingPlanner
{
    /// <summary>
    /// Best-fit decreasing: takes the examples from longest to shortest (ties by index) and puts each into the open row
    /// with the least room that still fits it, opening a new row when none does. Rows are returned in the order they
    /// were opened; examples within a row in the order they were placed.
    /// </summary>
    /// <param name="lengths">The token count of each example; each must be in [1, <paramref name="rowLength"/>].</param>
    /// <param name="rowLength">The capacity of a row in tokens.</param>
    public static PackingPlan BestFitDecreasing(IReadOnlyList<int> lengths, int rowLength)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        if (rowLength < 1) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "The row length must be at least 1.");
        for (int i = 0; i < lengths.Count; i++)
        {
            if (lengths[i] < 1)
                throw new ArgumentException($"Example {i} has length {lengths[i]}; every example needs at least one token.", nameof(lengths));
            if (lengths[i] > rowLength)
                throw new ArgumentException($"Example {i} has {lengths[i]} tokens, more than the row length {rowLength}; truncate it or raise the row length.", nameof(lengths));
        }

        int[] order = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]).ThenBy(i => i).ToArray();
        var rows = new List<List<int>>();
        // Open rows keyed by (room left, row index): the best fit is the smallest key with room >= length.
        var open = new SortedSet<(int Room, int Row)>();
        long realTokens = 0;
        foreach (int example in order)
        {
            int length = lengths[example];
            realTokens += length;
            var fitting = open.GetViewBetween((length, int.MinValue), (int.MaxValue, int.MaxValue));
            if (fitting.Count > 0)
            {
                var best = fitting.Min;
                open.Remove(best);
                rows[best.Row].Add(example);
                if (best.Room - length > 0) open.Add((best.Room - length, best.Row));
            }
            else
            {
                rows.Add([example]);
                if (rowLength - length > 0) open.Add((rowLength - length, rows.Count - 1));
            }
        }
        return new PackingPlan(rows.Select(r => (IReadOnlyList<int>)r.ToArray()).ToArray(), rowLength, realTokens);
    }
}
