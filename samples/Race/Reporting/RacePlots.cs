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
