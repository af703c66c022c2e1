namespace PromptLossWeight.Evaluation;

/// <summary>
/// The per-sequence statistics of a whole evaluation, on the CPU: for each key (see <see cref="EvalStatisticKeys"/>,
/// plus any a subclass adds) one value per evaluated sequence, in evaluation order.
/// </summary>
public sealed class EvalOutputs
{
    private readonly IReadOnlyDictionary<string, double[]> _values;

    /// <summary>Wraps per-sequence values; every array must have the same length.</summary>
    public EvalOutputs(IReadOnlyDictionary<string, double[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int? length = null;
        foreach (var (key, array) in values)
        {
            length ??= array.Length;
            if (array.Length != length)
                throw new ArgumentException($"Statistic '{key}' has {array.Length} values but others have {length}; each needs one value per sequence.", nameof(values));
        }
        _values = values;
        SequenceCount = length ?? 0;
    }

    /// <summary>Number of sequences evaluated.</summary>
    public int SequenceCount { get; }

    /// <summary>The statistic names present.</summary>
    public IEnumerable<string> Keys => _values.Keys;

    /// <summary>True when <paramref name="key"/> is present.</summary>
    public bool Contains(string key) => _values.ContainsKey(key);

    /// <summary>The per-sequence values of <paramref name="key"/>.</summary>
    public IReadOnlyList<double> this[string key] => _values.TryGetValue(key, out double[]? v)
        ? v
        : throw new KeyNotFoundException($"The evaluation produced no statistic named '{key}'; present: {string.Join(", ", _values.Keys)}.");

    /// <summary>Σ over sequences of <paramref name="key"/>.</summary>
    public double Sum(string key) => this[key].Sum();
}
