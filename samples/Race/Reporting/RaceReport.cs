using System.Globalization;
using System.Text;
using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Samples.Race.Reporting;

/// <summary>Writes the outputs of a sweep: metrics.csv, the PNG plots, summary.md and report.md.</summary>
public static class RaceReport
{
    /// <summary>Writes everything under the output folder and returns where it went.</summary>
    public static RaceExperimentResult Write(RaceExperimentOptions options, RaceData data, ModelSetup setup, GenerationRatioStatistics datasetRg, GenerationRatioStatistics rg,
        IReadOnlyList<RunSummary> summaries, IReadOnlyList<(double Plw, IReadOnlyList<MetricRecord> History)> histories)
    {
        string output = options.OutputDirectory;
        string plots = Path.Combine(output, "plots");
        Directory.CreateDirectory(plots);

        string csv = Path.Combine(output, MetricHistory.CsvFileName);
        File.WriteAllText(csv, MetricHistory.ToCsv(histories.SelectMany(h => h.History).ToList()));

        var plotPaths = new List<string>();
        foreach (var (plw, history) in histories)
        {
            string path = Path.Combine(plots, RaceExperiment.RunName(plw) + ".png");
            RacePlots.SaveRun(path, plw, history);
            plotPaths.Add(path);
        }
        string comparison = Path.Combine(plots, "comparison.png");
        RacePlots.SaveComparison(comparison, histories);
        plotPaths.Add(comparison);

        string table = SweepSummary.ToMarkdown(summaries);
        File.WriteAllText(Path.Combine(output, "summary.md"), table);

        var md = new StringBuilder();
        md.Append("# RACE prompt-loss-weight sweep\n\n");
        md.Append(CultureInfo.InvariantCulture, $"- Data: {data.Description}; {data.Train.Count} training, {data.Validation.Count} validation examples");
        md.Append(data.Skipped.Count > 0 ? $"; {data.Skipped.Count} malformed records skipped.\n" : ".\n");
        md.Append(CultureInfo.InvariantCulture, $"- Model: {setup.Description}.\n");
        md.Append(CultureInfo.InvariantCulture,
            $"- Training: PLW {string.Join(", ", options.PromptLossWeights.Select(p => p.ToString("G4", CultureInfo.InvariantCulture)))}; ");
        md.Append(options.MaxSteps is long steps ? $"{steps} steps" : $"{options.Epochs} epochs");
        md.Append(CultureInfo.InvariantCulture, $", batch {options.BatchSize}, AdamW lr {options.LearningRate:G3}, seed {options.Seed}.\n");
        md.Append(CultureInfo.InvariantCulture,
            $"- Generation ratio Rg of the data (answer letter / prompt text, in tokens): arithmetic mean {datasetRg.ArithmeticMean:G3}, " +
            $"geometric mean {datasetRg.GeometricMean:G3}, median {datasetRg.Median:G3}; of the rendered sequences (chat template included): " +
            $"arithmetic mean {rg.ArithmeticMean:G3}.\n\n");
        md.Append("## Summary\n\nValidation metrics; accuracy is over the answer letter (argmax among A–D), chance is 0.25.\n\n");
        md.Append(table).Append('\n');
        md.Append("Accuracy at min full loss is what you get when you stop on the full-sequence validation loss; " +
                  "accuracy at min completion loss is what you get when you stop on the completion loss.\n\n");
        md.Append("## Plots\n\n![comparison](plots/comparison.png)\n\n");
        foreach (var (plw, _) in histories)
            md.Append(CultureInfo.InvariantCulture, $"![PLW {plw:G4}](plots/{RaceExperiment.RunName(plw)}.png)\n\n");
        md.Append($"## Files\n\n- [metrics.csv]({MetricHistory.CsvFileName}): every evaluation of every run (step, epoch, plw, prompt_loss, completion_loss, full_loss, accuracy, …).\n");
        md.Append("- [summary.md](summary.md): the table above.\n- `runs/plw_*/`: each run's own metric history and best checkpoint.\n");
        string report = Path.Combine(output, "report.md");
        File.WriteAllText(report, md.ToString());
        return new RaceExperimentResult(summaries, histories, csv, report, plotPaths, datasetRg, rg);
    }
}
