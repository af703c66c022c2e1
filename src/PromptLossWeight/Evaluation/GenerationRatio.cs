using System.Text;
using PromptLossWeight.Readers;
using Microsoft.ML.Tokenizers;

namespace PromptLossWeight.Evaluation;

/// <summary>
/// The generation ratio Rg of a prompt/completion pair: completion length divided by prompt length. Datasets with a
/// small Rg (RACE: about 0.01) are those where the prompt-loss weight matters most, because almost every token of
/// a sequence is prompt. Lengths are measured in tokens (with a tokenizer) or in characters.
/// </summary>
public static class GenerationRatio
{
    /// <summary>Length in characters (Unicode scalar values, so a surrogate pair counts once).</summary>
    public static Func<string, int> Characters { get; } = text => text.EnumerateRunes().Count();

    /// <summary>Length in tokens of <paramref name="tokenizer"/> (no special tokens added).</summary>
    public static Func<string, int> Tokens(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return text => tokenizer.CountTokens(text);
    }

    /// <summary>Length in tokens of any encoding function.</summary>
    public static Func<string, int> Tokens(Func<string, IReadOnlyList<long>> encode)
    {
        ArgumentNullException.ThrowIfNull(encode);
        return text => encode(text).Count;
    }

    /// <summary>Rg of one pair of lengths. The prompt must have at least one unit.</summary>
    public static double Of(int promptLength, int completionLength)
    {
        if (promptLength <= 0) throw new ArgumentOutOfRangeException(nameof(promptLength), promptLength, "The prompt length must be positive.");
        if (completionLength < 0) throw new ArgumentOutOfRangeException(nameof(completionLength), completionLength, "The completion length cannot be negative.");
        return (double)completionLength / promptLength;
    }

    /// <summary>Rg of every example, measured with <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentException">An example's prompt measures zero (its index is named).</exception>
    public static double[] PerExample(IEnumerable<PromptCompletionExample> examples, Func<string, int> length)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(length);
        var ratios = new List<double>();
        foreach (PromptCompletionExample e in examples)
        {
            int prompt = length(e.Prompt);
            if (prompt <= 0)
                throw new ArgumentException($"Example {ratios.Count} has an empty prompt (length 0): Rg is undefined.", nameof(examples));
            ratios.Add(Of(prompt, length(e.Completion)));
        }
        return ratios.ToArray();
    }

    /// <summary>Rg statistics of a dataset, measured with <paramref name="length"/>.</summary>
    public static GenerationRatioStatistics Compute(IEnumerable<PromptCompletionExample> examples, Func<string, int> length) =>
        GenerationRatioStatistics.From(PerExample(examples, length));
}

/// <summary>Summary statistics of per-example generation ratios (the article's Rg table).</summary>
public sealed record GenerationRatioStatistics
{
    private GenerationRatioStatistics(double[] sorted)
    {
        Sorted = sorted;
    }

    /// <summary>The ratios in ascending order.</summary>
    public IReadOnlyList<double> Sorted { get; }

    /// <summary>Number of examples.</summary>
    public int Count => Sorted.Count;

    /// <summary>Arithmetic mean Σr/n.</summary>
    public double ArithmeticMean => Sorted.Average();

    /// <summary>Geometric mean exp(Σ ln r / n); 0 when any ratio is 0 (an empty completion).</summary>
    public double GeometricMean => Sorted[0] == 0 ? 0 : Math.Exp(Sorted.Sum(Math.Log) / Count);

    /// <summary>The median (the 0.5 quantile).</summary>
    public double Median => Quantile(0.5);

    /// <summary>The smallest ratio.</summary>
    public double Min => Sorted[0];

    /// <summary>The largest ratio.</summary>
    public double Max => Sorted[^1];

    /// <summary>
    /// The <paramref name="q"/>-quantile by linear interpolation between order statistics (position q·(n−1), the
    /// default of NumPy and R type 7).
    /// </summary>
    public double Quantile(double q)
    {
        if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException(nameof(q), q, "A quantile must be in [0, 1].");
        double position = q * (Count - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, Count - 1);
        return Sorted[lower] + (position - lower) * (Sorted[upper] - Sorted[lower]);
    }

    /// <summary>Builds the statistics from per-example ratios (at least one; each finite and ≥ 0).</summary>
    public static GenerationRatioStatistics From(IEnumerable<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(ratios);
        double[] sorted = ratios.ToArray();
        if (sorted.Length == 0) throw new ArgumentException("No ratios: the dataset is empty.", nameof(ratios));
        if (sorted.Any(r => !double.IsFinite(r) || r < 0)) throw new ArgumentException("Ratios must be finite and >= 0.", nameof(ratios));
        Array.Sort(sorted);
        return new GenerationRatioStatistics(sorted);
    }

    /// <summary>A markdown table of the statistics (count, means, median, quantiles, extremes).</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| statistic | Rg |");
        sb.AppendLine("|---|---|");
        sb.AppendLine($"| examples | {Count} |");
        foreach ((string name, double value) in Rows())
            sb.AppendLine($"| {name} | {value:G4} |");
        return sb.ToString();
    }

    /// <summary>The named values shown by <see cref="ToMarkdown"/>, in order.</summary>
    public IReadOnlyList<(string Name, double Value)> Rows() =>
    [
        ("arithmetic mean", ArithmeticMean), ("geometric mean", GeometricMean), ("median", Median),
        ("min", Min), ("5%", Quantile(0.05)), ("25%", Quantile(0.25)), ("75%", Quantile(0.75)), ("95%", Quantile(0.95)), ("max", Max),
    ];
}

/// <summary>A histogram of values with linear or logarithmic bins.</summary>
/// <param name="Edges">Bin edges (one more than the counts), ascending.</param>
/// <param name="Counts">Number of values in each bin [edge i, edge i+1) (the last bin includes its upper edge).</param>
/// <param name="LogScale">True when the edges are spaced evenly in log10.</param>
public sealed record RatioHistogram(double[] Edges, int[] Counts, bool LogScale)
{
    /// <summary>
    /// Bins <paramref name="values"/> into <paramref name="bins"/> bins between their min and max. With
    /// <paramref name="logScale"/> the edges are evenly spaced in log10 and zero values are left out (they have no log).
    /// </summary>
    public static RatioHistogram Build(IReadOnlyList<double> values, int bins, bool logScale)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "At least one bin is needed.");
        double[] v = (logScale ? values.Where(x => x > 0) : values).Where(double.IsFinite).ToArray();
        if (v.Length == 0) throw new ArgumentException(logScale ? "No positive values to bin on a log scale." : "No values to bin.", nameof(values));
        double lo = logScale ? Math.Log10(v.Min()) : v.Min();
        double hi = logScale ? Math.Log10(v.Max()) : v.Max();
        if (hi == lo) hi = lo + 1e-9 + Math.Abs(lo) * 1e-9;
        var edges = new double[bins + 1];
        for (int i = 0; i <= bins; i++)
        {
            double t = lo + (hi - lo) * i / bins;
            edges[i] = logScale ? Math.Pow(10, t) : t;
        }
        var counts = new int[bins];
        foreach (double x in v)
        {
            double t = logScale ? Math.Log10(x) : x;
            int bin = (int)Math.Floor((t - lo) / (hi - lo) * bins);
            counts[Math.Clamp(bin, 0, bins - 1)]++;
        }
        return new RatioHistogram(edges, counts, logScale);
    }
}
