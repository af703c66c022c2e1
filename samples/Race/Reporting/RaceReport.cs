using System.Globalization;
using System.Text;
using PromptLossWeight.Evaluation;

namespace PromptLossWeight.Samples.Race.Reporting;

/// <summary>Writes the outputs of a sweep: metrics.csv, the PNG plots, summary.md and report.md.</summary>
public static class RaceReport
{
    /// <summary>Writes everything under the output folder and returns where it went.</summary>
    public static RaceExperimentResult Write(RaceExperimentOptions options, RaceData data, ModelSetup setup, GenerationRatioStatistics datasetRg, GenerationRatioStatistics rg,
        IReadOnlyList<RunSummary> summaries, IReadOnlyList<(double Plw, IReadOnlyList<MetricRecord> History)> histories,
        PromptLossWeight.Samples.Race.Pretraining.PretrainedModel? pretrained, string start)
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
        string sweep = Path.Combine(plots, "sweep.png");
        RacePlots.SaveSweep(sweep, summaries);
        plotPaths.Add(sweep);
        string histogram = Path.Combine(plots, "rg_histogram.png");
        RacePlots.SaveRgHistogram(histogram, datasetRg, "Rg of the training data (answer letter / prompt text, tokens)");
        plotPaths.Add(histogram);

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
        md.Append(CultureInfo.InvariantCulture, $"- Output folder: {start}\n");
        if (pretrained is not null)
            md.Append(CultureInfo.InvariantCulture,
                $"- Pretraining: {(pretrained.Reused ? "reused from the cache" : "trained now")} ({pretrained.Directory}); {RaceExperiment.DescribeRetrieval(pretrained.History)}.\n");
        md.Append('\n');
        md.Append("## Reading\n\n").Append(Reading(summaries, pretrained)).Append("\n\n");
        md.Append("## The article's three questions\n\n").Append(Questions(summaries)).Append('\n');
        md.Append("## Summary\n\nValidation metrics; accuracy is over the answer letter (argmax among A–D), chance is 0.25.\n\n");
        md.Append(table).Append('\n');
        md.Append("Accuracy at min full loss is what you get when you stop on the full-sequence validation loss; " +
                  "accuracy at min completion loss is what you get when you stop on the completion loss.\n\n");
        md.Append("## Plots\n\n");
        md.Append("Each metric against PLW (log-scale PLW axis; 0 at the left, past the dotted line):\n\n![sweep](plots/sweep.png)\n\n");
        md.Append("Completion loss and accuracy during training, one line per PLW:\n\n![comparison](plots/comparison.png)\n\n");
        md.Append("The distribution of Rg over the training data:\n\n![Rg histogram](plots/rg_histogram.png)\n\n");
        md.Append("Each run's validation losses and accuracy, with dashed lines at the minima of completion loss and full-sequence loss:\n\n");
        foreach (var (plw, _) in histories)
            md.Append(CultureInfo.InvariantCulture, $"![PLW {plw:G4}](plots/{RaceExperiment.RunName(plw)}.png)\n\n");
        md.Append($"## Files\n\n- [metrics.csv]({MetricHistory.CsvFileName}): every evaluation of every run (step, epoch, plw, prompt_loss, completion_loss, full_loss, accuracy, …).\n");
        md.Append("- [summary.md](summary.md): the table above.\n- `runs/plw_*/`: each run's own metric history and best checkpoint.\n");
        string report = Path.Combine(output, "report.md");
        File.WriteAllText(report, md.ToString());
        return new RaceExperimentResult(summaries, histories, csv, report, plotPaths, datasetRg, rg, pretrained, start);
    }

    /// <summary>
    /// The article's three questions answered from the numbers, as markdown: (a) the accuracy when stopping at the
    /// minimum full-sequence loss versus at the minimum completion loss, (b) the steps each PLW needed to reach
    /// <see cref="SweepSummary.ConvergenceShare"/> of the sweep's best accuracy, (c) the best accuracy and best
    /// completion loss. One table (a row per PLW) and one sentence per question.
    /// </summary>
    public static string Questions(IReadOnlyList<RunSummary> summaries)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        if (summaries.Count == 0) return "No runs.\n";
        static string W(double plw) => plw.ToString("G4", CultureInfo.InvariantCulture);
        static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F3", CultureInfo.InvariantCulture);
        double target = SweepSummary.ConvergenceTarget(summaries);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"| PLW | (a) accuracy at min full loss | (a) accuracy at min completion loss | (b) steps to accuracy {F(target)} | (c) best accuracy | (c) best completion loss |\n");
        sb.Append("|---|---|---|---|---|---|\n");
        foreach (RunSummary s in summaries)
            sb.Append(CultureInfo.InvariantCulture,
                $"| {W(s.PromptLossWeight)} | {F(s.AccuracyAtMinFullLoss.Value)} (step {s.AccuracyAtMinFullLoss.Step}) | {F(s.AccuracyAtMinCompletionLoss.Value)} (step {s.AccuracyAtMinCompletionLoss.Step}) | " +
                $"{(s.FirstStepReaching(target) is long step ? step.ToString(CultureInfo.InvariantCulture) : "not reached")} | {F(s.BestAccuracy.Value)} | {s.BestCompletionLoss.Value.ToString("F4", CultureInfo.InvariantCulture)} |\n");
        sb.Append('\n');

        var gaps = summaries.Select(s => (s, Gap: s.AccuracyAtMinCompletionLoss.Value - s.AccuracyAtMinFullLoss.Value)).Where(x => double.IsFinite(x.Gap)).ToList();
        int better = gaps.Count(x => x.Gap > 0.005), worse = gaps.Count(x => x.Gap < -0.005);
        sb.Append(CultureInfo.InvariantCulture,
            $"(a) Stopping on the completion loss instead of the full-sequence loss gave higher accuracy for {better} of {gaps.Count} PLWs, lower for {worse}");
        if (gaps.Count > 0)
        {
            var most = gaps.OrderByDescending(x => Math.Abs(x.Gap)).First();
            sb.Append(CultureInfo.InvariantCulture, $"; the largest difference is at PLW {W(most.s.PromptLossWeight)} ({F(most.s.AccuracyAtMinFullLoss.Value)} vs {F(most.s.AccuracyAtMinCompletionLoss.Value)})");
        }
        sb.Append(".\n\n");

        var reached = summaries.Select(s => (s, Step: s.FirstStepReaching(target))).Where(x => x.Step is not null).OrderBy(x => x.Step).ToList();
        var missed = summaries.Where(s => s.FirstStepReaching(target) is null).ToList();
        sb.Append(CultureInfo.InvariantCulture,
            $"(b) {ConvergenceLabel()} of the best accuracy ({F(target)}) was reached first by ");
        sb.Append(reached.Count == 0 ? "no PLW" : string.Join(", ", reached.Select(x => $"PLW {W(x.s.PromptLossWeight)} (step {x.Step})")));
        if (missed.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"; not by PLW {string.Join(", ", missed.Select(s => W(s.PromptLossWeight)))}");
        sb.Append(".\n\n");

        double top = summaries.Max(s => s.BestAccuracy.Value);
        var best = summaries.Where(s => s.BestAccuracy.Value >= top - 1e-9).ToList();
        var byLoss = summaries.Where(s => double.IsFinite(s.BestCompletionLoss.Value)).OrderBy(s => s.BestCompletionLoss.Value).FirstOrDefault();
        sb.Append(best.Count == 1
            ? $"(c) The best accuracy is PLW {W(best[0].PromptLossWeight)}'s {F(top)}"
            : $"(c) The best accuracy, {F(top)}, is reached by PLW {string.Join(", ", best.Select(s => W(s.PromptLossWeight)))}");
        if (byLoss is not null)
            sb.Append(CultureInfo.InvariantCulture, $"; the lowest completion loss is PLW {W(byLoss.PromptLossWeight)}'s {byLoss.BestCompletionLoss.Value.ToString("F4", CultureInfo.InvariantCulture)}");
        sb.Append(".\n");
        return sb.ToString();
    }

    private static string ConvergenceLabel() => string.Create(CultureInfo.InvariantCulture, $"{SweepSummary.ConvergenceShare * 100:G3} %");

    /// <summary>The accuracy level that counts as reading: well above chance (0.25), and above the 0.5 that naming either town of a two-fact article gives.</summary>
    public const double ReadingAccuracy = 0.8;

    /// <summary>
    /// A short reading of the sweep, generated from the numbers: which PLW reached the best accuracy and how fast each
    /// reached <see cref="ReadingAccuracy"/>, how much stopping on the full-sequence loss costs, and what the pretraining gave.
    /// </summary>
    public static string Reading(IReadOnlyList<RunSummary> summaries, PromptLossWeight.Samples.Race.Pretraining.PretrainedModel? pretrained)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        if (summaries.Count == 0) return "No runs.";
        var sb = new StringBuilder();
        static string W(double plw) => plw.ToString("G4", CultureInfo.InvariantCulture);
        double top = summaries.Max(s => s.BestAccuracy.Value);
        var winners = summaries.Where(s => s.BestAccuracy.Value >= top - 1e-9).ToList();
        sb.Append(CultureInfo.InvariantCulture,
            $"The best accuracy, {top:F3}, was reached with PLW {string.Join(" and ", winners.Select(s => W(s.PromptLossWeight)))}");
        var others = summaries.Except(winners).ToList();
        if (others.Count > 0)
            sb.Append(CultureInfo.InvariantCulture, $"; the other PLWs reached {string.Join(", ", others.Select(s => $"{s.BestAccuracy.Value:F3} (PLW {W(s.PromptLossWeight)})"))}");
        sb.Append(". ");
        var reading = summaries.Where(s => s.FirstStepAtAccuracy is not null).OrderBy(s => s.FirstStepAtAccuracy).ToList();
        if (reading.Count == 0)
            sb.Append(CultureInfo.InvariantCulture, $"No PLW reached accuracy {ReadingAccuracy} (chance is 0.25; with two facts per article, naming either of its towns gives about 0.5), so the runs did not get to answers that depend on reading. ");
        else
        {
            sb.Append(CultureInfo.InvariantCulture, $"Accuracy {ReadingAccuracy} (chance is 0.25) was first reached by ");
            sb.Append(string.Join(", ", reading.Select(s => $"PLW {W(s.PromptLossWeight)} at step {s.FirstStepAtAccuracy}")));
            var never = summaries.Where(s => s.FirstStepAtAccuracy is null).ToList();
            if (never.Count > 0) sb.Append(CultureInfo.InvariantCulture, $"; never by PLW {string.Join(", ", never.Select(s => W(s.PromptLossWeight)))}");
            sb.Append(". ");
        }
        var costly = summaries.Select(s => (s, Gap: s.AccuracyAtMinCompletionLoss.Value - s.AccuracyAtMinFullLoss.Value))
            .Where(x => double.IsFinite(x.Gap)).OrderByDescending(x => x.Gap).FirstOrDefault();
        if (costly.s is not null && costly.Gap > 0.02)
            sb.Append(CultureInfo.InvariantCulture,
                $"Stopping on the full-sequence loss instead of the completion loss costs most at PLW {W(costly.s.PromptLossWeight)}: accuracy {costly.s.AccuracyAtMinFullLoss.Value:F3} (step {costly.s.AccuracyAtMinFullLoss.Step}) instead of {costly.s.AccuracyAtMinCompletionLoss.Value:F3} (step {costly.s.AccuracyAtMinCompletionLoss.Step}). ");
        else if (costly.s is not null)
            sb.Append("Stopping on the full-sequence loss or on the completion loss gives about the same accuracy for every PLW here. ");
        if (pretrained is not null)
            sb.Append(CultureInfo.InvariantCulture, $"Before fine-tuning, the pretrained model's {RaceExperiment.DescribeRetrieval(pretrained.History)} on free-form questions.");
        return sb.ToString().TrimEnd();
    }
}
