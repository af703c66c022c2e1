using PromptLossWeight.Evaluation;
using ScottPlot;

namespace PromptLossWeight.Samples.DatasetStats;

/// <summary>Draws Rg histograms (the article's figures) as PNG files with ScottPlot.</summary>
public static class RgPlots
{
    /// <summary>Saves a histogram of <paramref name="ratios"/> with a linear or a log10 x-axis to <paramref name="path"/>.</summary>
    public static void SaveHistogram(string path, IReadOnlyList<double> ratios, GenerationRatioStatistics stats, int bins, bool logScale, string title)
    {
        RatioHistogram histogram = RatioHistogram.Build(ratios, bins, logScale);
        Func<double, double> x = logScale ? Math.Log10 : v => v;
        var plot = new Plot();
        var bars = new List<Bar>();
        for (int i = 0; i < histogram.Counts.Length; i++)
        {
            double left = x(histogram.Edges[i]), right = x(histogram.Edges[i + 1]);
            bars.Add(new Bar { Position = (left + right) / 2, Value = histogram.Counts[i], Size = (right - left) * 0.95, FillColor = Colors.SteelBlue });
        }
        plot.Add.Bars(bars);
        AddMarker(plot, x(stats.ArithmeticMean), $"arithmetic mean {stats.ArithmeticMean:G3}", Colors.OrangeRed);
        AddMarker(plot, x(stats.GeometricMean), $"geometric mean {stats.GeometricMean:G3}", Colors.DarkGreen);
        AddMarker(plot, x(stats.Median), $"median {stats.Median:G3}", Colors.Purple);
        if (logScale)
        {
            var ticks = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => Math.Pow(10, v).ToString("G3"),
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            };
            plot.Axes.Bottom.TickGenerator = ticks;
        }
        plot.Title(title);
        plot.XLabel(logScale ? "Rg (log scale)" : "Rg");
        plot.YLabel("examples");
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, 900, 540);
    }

    private static void AddMarker(Plot plot, double x, string label, Color color)
    {
        if (!double.IsFinite(x)) return;
        var line = plot.Add.VerticalLine(x, 2, color);
        line.LegendText = label;
    }
}
