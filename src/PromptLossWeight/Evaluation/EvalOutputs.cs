using static TorchSharp.torch;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// The per-sequence statistics of a whole evaluation, on the CPU, one value per evaluated sequence in evaluation order:
/// the <see cref="SequenceStatistics"/> of every batch, concatenated. <c>Trainer.ComputeMetrics</c> turns them into metrics.
/// </summary>
public sealed class EvalOutputs
{
    private EvalOutputs(IReadOnlyDictionary<string, double[]> columns)
    {
        int? length = null;
        foreach (var (key, array) in columns)
        {
            length ??= array.Length;
            if (array.Length != length)
                throw new ArgumentException($"Statistic '{key}' has {array.Length} values but others have {length}; each needs one value per sequence.", nameof(columns));
        }
        SequenceCount = length ?? 0;
        double[] Column(string name) => columns.TryGetValue(name, out double[]? v) ? v : new double[SequenceCount];
        PromptLossSum = Column(nameof(SequenceStatistics.PromptLossSum));
        PromptTokens = Column(nameof(SequenceStatistics.PromptTokens));
        CompletionLossSum = Column(nameof(SequenceStatistics.CompletionLossSum));
        CompletionTokens = Column(nameof(SequenceStatistics.CompletionTokens));
        CompletionCorrect = Column(nameof(SequenceStatistics.CompletionCorrect));
        AnswerCorrect = Column(nameof(SequenceStatistics.AnswerCorrect));
        AnswerTotal = Column(nameof(SequenceStatistics.AnswerTotal));
        if (columns.ContainsKey(nameof(WeightedSequenceStatistics.LossSum)))
            Weighted = new WeightedEvalOutputs(Column(nameof(WeightedSequenceStatistics.LossSum)), Column(nameof(WeightedSequenceStatistics.WeightSum)),
                Column(nameof(WeightedSequenceStatistics.WeightedTokens)));
        Extra = columns.Where(kv => !LibraryColumns.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => (IReadOnlyList<double>)kv.Value, StringComparer.Ordinal);
    }

    private static readonly HashSet<string> LibraryColumns = new(StringComparer.Ordinal)
    {
        nameof(SequenceStatistics.PromptLossSum), nameof(SequenceStatistics.PromptTokens), nameof(SequenceStatistics.CompletionLossSum),
        nameof(SequenceStatistics.CompletionTokens), nameof(SequenceStatistics.CompletionCorrect), nameof(SequenceStatistics.AnswerCorrect),
        nameof(SequenceStatistics.AnswerTotal), nameof(WeightedSequenceStatistics.LossSum), nameof(WeightedSequenceStatistics.WeightSum),
        nameof(WeightedSequenceStatistics.WeightedTokens),
    };

    /// <summary>Number of sequences evaluated.</summary>
    public int SequenceCount { get; }

    /// <summary>Σ of the prompt tokens' next-token losses, per sequence.</summary>
    public IReadOnlyList<double> PromptLossSum { get; }

    /// <summary>Number of prompt tokens predicted, per sequence.</summary>
    public IReadOnlyList<double> PromptTokens { get; }

    /// <summary>Σ of the completion tokens' next-token losses, per sequence.</summary>
    public IReadOnlyList<double> CompletionLossSum { get; }

    /// <summary>Number of completion tokens predicted, per sequence.</summary>
    public IReadOnlyList<double> CompletionTokens { get; }

    /// <summary>Completion tokens whose argmax prediction is the label, per sequence.</summary>
    public IReadOnlyList<double> CompletionCorrect { get; }

    /// <summary>Answer tokens predicted correctly (argmax over the answer ids), per sequence.</summary>
    public IReadOnlyList<double> AnswerCorrect { get; }

    /// <summary>Answer tokens, per sequence.</summary>
    public IReadOnlyList<double> AnswerTotal { get; }

    /// <summary>The training objective's parts, per sequence, or null when the evaluation had no training weights.</summary>
    public WeightedEvalOutputs? Weighted { get; }

    /// <summary>The values a subclass added (<see cref="SequenceStatistics.Extra"/>), per sequence, by name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>> Extra { get; }

    /// <summary>Concatenates the statistics of every evaluation batch (in order) and copies them to the CPU, one host read per statistic.</summary>
    /// <exception cref="InvalidOperationException">A statistic is not one value per sequence, or the batches disagree on which statistics they have.</exception>
    public static EvalOutputs Concatenate(IReadOnlyList<(SequenceStatistics Statistics, long BatchSize)> batches) =>
        new(ConcatenateColumns(batches));

    /// <summary>Outputs from columns already on the CPU, by statistic name (a data-parallel evaluation's, summed over the ranks).</summary>
    internal static EvalOutputs FromColumns(IReadOnlyDictionary<string, double[]> columns) => new(columns);

    /// <summary>The columns of <see cref="Concatenate"/>, by statistic name.</summary>
    internal static Dictionary<string, double[]> ConcatenateColumns(IReadOnlyList<(SequenceStatistics Statistics, long BatchSize)> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        using var scope = NewDisposeScope();
        var parts = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
        for (int i = 0; i < batches.Count; i++)
        {
            var (statistics, size) = batches[i];
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, value) in statistics.Columns())
            {
                if (value.dim() != 1 || value.shape[0] != size)
                    throw new InvalidOperationException(
                        $"Evaluation statistic '{name}' must be a per-sequence tensor of shape [{size}]; got [{string.Join(", ", value.shape)}].");
                if (!parts.TryGetValue(name, out var list))
                {
                    if (i > 0) throw new InvalidOperationException($"Evaluation statistic '{name}' first appears in batch {i}; every batch must give the same statistics.");
                    parts[name] = list = [];
                }
                list.Add(value.to(ScalarType.Float64));
                names.Add(name);
            }
            if (parts.Keys.FirstOrDefault(k => !names.Contains(k)) is string missing)
                throw new InvalidOperationException($"Evaluation statistic '{missing}' is missing from batch {i}; every batch must give the same statistics.");
        }
        return parts.ToDictionary(kv => kv.Key, kv => cat(kv.Value, 0).cpu().data<double>().ToArray(), StringComparer.Ordinal);
    }
}

/// <summary>The parts of the training objective over a whole evaluation, on the CPU, one value per sequence.</summary>
/// <param name="LossSum">Σ wᵢℓᵢ per sequence.</param>
/// <param name="WeightSum">Σ wᵢ per sequence.</param>
/// <param name="WeightedTokens">Tokens with a weight above 0, per sequence.</param>
public sealed record WeightedEvalOutputs(IReadOnlyList<double> LossSum, IReadOnlyList<double> WeightSum, IReadOnlyList<double> WeightedTokens);
