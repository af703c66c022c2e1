using PromptLossWeight.Evaluation;
using ScottPlot;

namespace PromptLossWeight.Samples.Race.Reporting;

/// <summary>The article's figures as PNG files (ScottPlot): per-PLW learning curves and a cross-PLW comparison.</summary>
public static class RacePlots
{
    private static readonly Color[] Palette =
        [Colors.Blue, Colors.OrangeRed, Colors.Green, Colors.Purple, Colors.Brown, Colors.DeepPink, Colors.Gray, Colors.Olive, Colors.Teal];

    /// <summary>
    /// Validation prompt, completion and full-sequence losses (left axis) and accuracy (right axis) against epochs
    /// for one PLW run.
    /// </summary>
    public static void SaveRun(string path, double plw, IReadOnlyList<MetricRecord> history)
    {
        var plot = new Plot();
        double[] epochs = history.Select(r => r.Epoch).ToArray();
        AddLine(plot, epochs, history, MetricNames.PromptLoss, "prompt loss", Colors.Gray, LinePattern.Dashed);
        AddLine(plot, epochs, history, MetricNames.CompletionLoss, "completion loss", Colors.Blue, LinePattern.Solid);
        AddLine(plot, epochs, history, MetricNames.FullLoss, "full-sequence loss", Colors.Purple, LinePattern.Dotted);
        var accuracy = AddLine(plot, epochs, history, MetricNames.Accuracy, "accuracy (right axis)", Colors.OrangeRed, LinePattern.Solid);
        if (accuracy is not null)
        {
            accuracy.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = "accuracy";
            plot.Axes.SetLimitsY(0, 1, plot.Axes.Right);
        }
        // The article's dashed lines: where the completion loss and the full-sequence loss reach their minima.
        MarkMinimum(plot, history, MetricNames.CompletionLoss, "min completion loss", Colors.Blue);
        MarkMinimum(plot, history, MetricNames.FullLoss, "min full-sequence loss", Colors.Purple);
        plot.Title($"Validation metrics, PLW = {plw:G4}");
        plot.XLabel("epoch");
        plot.YLabel("loss (nats per token)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 540);
    }

    /// <summary>Completion loss (top) and accuracy (bottom) against epochs, one line per PLW.</summary>
    public static void SaveComparison(string path, IReadOnlyList<(double Plw, IReadOnlyList<MetricRecord> History)> runs)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        Plot loss = multiplot.GetPlot(0), accuracy = multiplot.GetPlot(1);
        for (int i = 0; i < runs.Count; i++)
        {
            var (plw, history) = runs[i];
            double[] epochs = history.Select(r => r.Epoch).ToArray();
            Color color = Palette[i % Palette.Length];
            AddLine(loss, epochs, history, MetricNames.CompletionLoss, $"PLW {plw:G4}", color, LinePattern.Solid);
            AddLine(accuracy, epochs, history, MetricNames.Accuracy, $"PLW {plw:G4}", color, LinePattern.Solid);
        }
        loss.Title("Validation completion loss by PLW");
        loss.YLabel("completion loss");
        loss.XLabel("epoch");
        loss.ShowLegend(Alignment.UpperRight);
        accuracy.Title("Validation accuracy by PLW");
        accuracy.YLabel("accuracy");
        accuracy.XLabel("epoch");
        accuracy.Axes.SetLimitsY(0, 1);
        var chance = accuracy.Add.HorizontalLine(0.25, 1, Colors.Gray, LinePattern.Dotted);
        chance.LegendText = "chance (0.25)";
        accuracy.ShowLegend(Alignment.LowerRight);
        multiplot.SavePng(path, 900, 900);
    }

    /// <summary>
    /// The article's summary figure: one point per PLW for best completion loss, best accuracy, and the accuracy when
    /// stopping at the minimum full-sequence loss versus at the minimum completion loss. The PLW axis is logarithmic;
    /// PLW 0, which has no logarithm, sits one decade left of the smallest positive PLW, marked "0" and set off by a
    /// dotted line.
    /// </summary>
    public static void SaveSweep(string path, IReadOnlyList<RunSummary> summaries)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        var ordered = summaries.OrderBy(s => s.PromptLossWeight).ToList();
        double[] x = ordered.Select(s => PlwPosition(s.PromptLossWeight, ordered)).ToArray();
        var multiplot = new Multiplot();
        multiplot.AddPlots(3);
        Plot loss = multiplot.GetPlot(0), best = multiplot.GetPlot(1), stop = multiplot.GetPlot(2);
        AddPoints(loss, x, ordered.Select(s => s.BestCompletionLoss.Value), "best completion loss", Colors.Blue);
        loss.Title("Best validation completion loss by PLW");
        loss.YLabel("completion loss");
        AddPoints(best, x, ordered.Select(s => s.BestAccuracy.Value), "best accuracy", Colors.OrangeRed);
        best.Title("Best validation accuracy by PLW");
        best.YLabel("accuracy");
        AddPoints(stop, x, ordered.Select(s => s.AccuracyAtMinFullLoss.Value), "stop at min full-sequence loss", Colors.Purple);
        AddPoints(stop, x, ordered.Select(s => s.AccuracyAtMinCompletionLoss.Value), "stop at min completion loss", Colors.Green);
        stop.Title("Accuracy when stopping on each loss, by PLW");
        stop.YLabel("accuracy");
        foreach (Plot plot in new[] { best, stop })
        {
            plot.Axes.SetLimitsY(0, 1.05);
            var chance = plot.Add.HorizontalLine(0.25, 1, Colors.Gray, LinePattern.Dotted);
            chance.LegendText = "chance (0.25)";
        }
        foreach (Plot plot in new[] { loss, best, stop })
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            for (int i = 0; i < ordered.Count; i++)
                ticks.AddMajor(x[i], ordered[i].PromptLossWeight.ToString("G4", System.Globalization.CultureInfo.InvariantCulture));
            plot.Axes.Bottom.TickGenerator = ticks;
            plot.XLabel("PLW (log scale; 0 at the left)");
            if (ordered.Count > 1 && ordered[0].PromptLossWeight == 0)
                plot.Add.VerticalLine((x[0] + x[1]) / 2, 1, Colors.Gray, LinePattern.Dotted);
            double pad = ordered.Count > 1 ? 0.3 : 1;
            plot.Axes.SetLimitsX(x.Min() - pad, x.Max() + pad);
            plot.ShowLegend(Alignment.LowerRight);
        }
        multiplot.SavePng(path, 900, 1200);
    }

    /// <summary>
    /// The x position of <paramref name="plw"/> on the sweep figure: log10(PLW), and for 0 one decade below the smallest
    /// positive PLW of the sweep (or 0 when 0 is the only PLW).
    /// </summary>
    public static double PlwPosition(double plw, IReadOnlyList<RunSummary> sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        if (plw > 0) return Math.Log10(plw);
        var positive = sweep.Select(s => s.PromptLossWeight).Where(w => w > 0).ToList();
        return positive.Count == 0 ? 0 : Math.Log10(positive.Min()) - 1;
    }

    /// <summary>A histogram of the per-example Rg values with their arithmetic and geometric means marked.</summary>
    public static void SaveRgHistogram(string path, GenerationRatioStatistics rg, string title)
    {
        ArgumentNullException.ThrowIfNull(rg);
        double lo = rg.Min, hi = rg.Max;
        if (hi - lo < 1e-12 * Math.Max(1, Math.Abs(hi)))
        {
            // Every example has the same Rg: one bar, in a window around it.
            double half = Math.Max(Math.Abs(lo) * 0.1, 1e-6);
            lo -= half;
            hi += half;
        }
        const int bins = 30;
        double width = (hi - lo) / bins;
        var counts = new int[bins];
        foreach (double v in rg.Sorted) counts[Math.Clamp((int)Math.Floor((v - lo) / width), 0, bins - 1)]++;
        var plot = new Plot();
        var bars = new List<Bar>();
        for (int i = 0; i < bins; i++)
            if (counts[i] > 0)
                bars.Add(new Bar { Position = lo + (i + 0.5) * width, Value = counts[i], Size = width * 0.95, FillColor = Colors.SteelBlue });
        plot.Add.Bars(bars);
        var mean = plot.Add.VerticalLine(rg.ArithmeticMean, 2, Colors.OrangeRed);
        mean.LegendText = $"arithmetic mean {rg.ArithmeticMean:G3}";
        var geometric = plot.Add.VerticalLine(rg.GeometricMean, 2, Colors.DarkGreen, LinePattern.Dashed);
        geometric.LegendText = $"geometric mean {rg.GeometricMean:G3}";
        plot.Axes.SetLimitsX(lo - width, hi + width);
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.XLabel("Rg = completion tokens / prompt tokens");
        plot.YLabel("examples");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 900, 540);
    }

    private static void AddPoints(Plot plot, double[] x, IEnumerable<double> values, string label, Color color)
    {
        double[] y = values.ToArray();
        var points = x.Zip(y).Where(p => double.IsFinite(p.Second)).ToArray();
        if (points.Length == 0) return;
        var scatter = plot.Add.Scatter(points.Select(p => p.First).ToArray(), points.Select(p => p.Second).ToArray(), color);
        scatter.LegendText = label;
        scatter.LineWidth = 2;
        scatter.MarkerSize = 9;
    }

    private static void MarkMinimum(Plot plot, IReadOnlyList<MetricRecord> history, string metric, string label, Color color)
    {
        var finite = history.Where(r => double.IsFinite(r.Get(metric))).ToList();
        if (finite.Count == 0) return;
        MetricRecord min = finite.OrderBy(r => r.Get(metric)).ThenBy(r => r.Step).First();
        var line = plot.Add.VerticalLine(min.Epoch, 1, color, LinePattern.Dashed);
        line.LegendText = $"{label} (epoch {min.Epoch:0.##})";
    }

    private static ScottPlot.Plottables.Scatter? AddLine(Plot plot, double[] epochs, IReadOnlyList<MetricRecord> history, string metric,
        string label, Color color, LinePattern pattern)
    {
        var points = epochs.Zip(history.Select(r => r.Get(metric))).Where(p => double.IsFinite(p.Second)).ToArray();
        if (points.Length == 0) return null;
        var scatter = plot.Add.Scatter(points.Select(p => p.First).ToArray(), points.Select(p => p.Second).ToArray(), color);
        scatter.LegendText = label;
        scatter.LinePattern = pattern;
        scatter.LineWidth = 2;
        scatter.MarkerSize = 4;
        return scatter;
    }
}
