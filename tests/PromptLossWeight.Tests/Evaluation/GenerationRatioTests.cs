using PromptLossWeight.Evaluation;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Tests.Evaluation;

public sealed class GenerationRatioTests
{
    // Character ratios: 2/4 = 0.5, 2/8 = 0.25, 4/2 = 2.
    private static readonly PromptCompletionExample[] Fixture =
    [
        new("abcd", "xy"),
        new("abcdefgh", "xy"),
        new("ab", "wxyz"),
    ];

    [Fact]
    public void Ratios_by_characters_are_completion_length_over_prompt_length()
    {
        GenerationRatio.PerExample(Fixture, GenerationRatio.Characters).Should().Equal(0.5, 0.25, 2.0);
    }

    [Fact]
    public void Both_means_and_the_median_match_hand_computed_values()
    {
        var stats = GenerationRatio.Compute(Fixture, GenerationRatio.Characters);

        stats.Count.Should().Be(3);
        stats.ArithmeticMean.Should().BeApproximately((0.5 + 0.25 + 2.0) / 3, 1e-12);      // 0.91667
        stats.GeometricMean.Should().BeApproximately(Math.Cbrt(0.5 * 0.25 * 2.0), 1e-12);  // 0.25^(1/3) = 0.62996
        stats.Median.Should().Be(0.5);
        stats.Min.Should().Be(0.25);
        stats.Max.Should().Be(2.0);
    }

    [Fact]
    public void Quantiles_interpolate_linearly_between_order_statistics()
    {
        var stats = GenerationRatioStatistics.From([0.25, 0.5, 2.0, 1.0]);   // sorted 0.25 0.5 1 2

        stats.Quantile(0).Should().Be(0.25);
        stats.Quantile(0.25).Should().BeApproximately(0.4375, 1e-12);       // position 0.75: 0.25 + 0.75·0.25
        stats.Median.Should().BeApproximately(0.75, 1e-12);                 // position 1.5
        stats.Quantile(1).Should().Be(2.0);
    }

    [Fact]
    public void Ratios_by_tokens_use_the_given_encoder()
    {
        Func<string, IReadOnlyList<long>> words = s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => (long)w.Length).ToArray();

        var ratios = GenerationRatio.PerExample([new("one two three four", "B"), new("a b", "c d")], GenerationRatio.Tokens(words));

        ratios.Should().Equal(0.25, 1.0);
    }

    [Fact]
    public void An_empty_completion_gives_ratio_zero_and_geometric_mean_zero()
    {
        var stats = GenerationRatio.Compute([new("abcd", ""), new("ab", "ab")], GenerationRatio.Characters);

        stats.ArithmeticMean.Should().Be(0.5);
        stats.GeometricMean.Should().Be(0);
    }

    [Fact]
    public void An_empty_prompt_is_rejected_naming_the_example()
    {
        var act = () => GenerationRatio.PerExample([new("ab", "c"), new("", "c")], GenerationRatio.Characters);

        act.Should().Throw<ArgumentException>().WithMessage("Example 1 *");
    }

    [Fact]
    public void Linear_histogram_bins_span_min_to_max_and_count_every_value()
    {
        var h = RatioHistogram.Build([0.0, 0.1, 0.5, 0.9, 1.0], bins: 2, logScale: false);

        h.Edges.Should().Equal(0.0, 0.5, 1.0);
        h.Counts.Should().Equal(2, 3);
    }

    [Fact]
    public void Log_histogram_edges_are_even_in_log10_and_drop_zeros()
    {
        var h = RatioHistogram.Build([0.0, 0.01, 0.1, 1.0], bins: 2, logScale: true);

        h.Edges.Should().HaveCount(3);
        h.Edges[0].Should().BeApproximately(0.01, 1e-12);
        h.Edges[1].Should().BeApproximately(0.1, 1e-12);
        h.Edges[2].Should().BeApproximately(1.0, 1e-12);
        h.Counts.Should().Equal(1, 2);
    }
}
