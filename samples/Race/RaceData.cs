using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race.Synthetic;

namespace PromptLossWeight.Samples.Race;

/// <summary>The training and validation examples of an experiment and where they came from.</summary>
/// <param name="Train">Training examples.</param>
/// <param name="Validation">Validation examples.</param>
/// <param name="Description">One line saying what the data is.</param>
/// <param name="Skipped">Records skipped as malformed (with --skip-bad-records).</param>
public sealed record RaceData(IReadOnlyList<RaceExample> Train, IReadOnlyList<RaceExample> Validation, string Description, IReadOnlyList<SkippedRecord> Skipped)
{
    /// <summary>
    /// Loads the data the options ask for: the synthetic set; a folder's train and validation splits; or a single file
    /// split by <see cref="RaceExperimentOptions.ValidationFraction"/> (shuffled with the seed) unless a validation path is given.
    /// </summary>
    public static RaceData Load(RaceExperimentOptions options)
    {
        if (options.DataPath is null)
        {
            var synthetic = options.Synthetic with
            {
                TrainExamples = Math.Min(options.Synthetic.TrainExamples, options.MaxExamples ?? int.MaxValue),
                ValidationExamples = Math.Min(options.Synthetic.ValidationExamples, options.MaxEvalExamples ?? int.MaxValue),
            };
            var (train, validation) = SyntheticRaceGenerator.Generate(synthetic);
            return new RaceData(train, validation,
                $"synthetic RACE-shaped set ({synthetic.FactsPerArticle} facts and {synthetic.FillerSentences} filler sentences per article)", []);
        }

        var policy = options.SkipBadRecords ? BadRecordPolicy.Skip : BadRecordPolicy.Throw;
        var trainRead = new DataReadOptions { BadRecords = policy, MaxRecords = options.MaxExamples };
        var evalRead = new DataReadOptions { BadRecords = policy, MaxRecords = options.MaxEvalExamples };
        if (options.ValidationPath is not null || Directory.Exists(options.DataPath) || HuggingFaceHub.IsRepoId(options.DataPath))
        {
            var train = RaceDataset.Load(options.DataPath, options.Config, RaceSplit.Train, trainRead, options.Hub);
            var validation = RaceDataset.Load(options.ValidationPath ?? options.DataPath, options.Config, RaceSplit.Validation, evalRead, options.Hub);
            Require(train.Records, options.DataPath, "training");
            Require(validation.Records, options.ValidationPath ?? options.DataPath, "validation");
            return new RaceData(train.Records, validation.Records, $"RACE from {options.DataPath} (config {options.Config})",
                [.. train.Skipped, .. validation.Skipped]);
        }

        var all = RaceDataset.Load(options.DataPath, options.Config, RaceSplit.Train, trainRead with { MaxRecords = null });
        Require(all.Records, options.DataPath, "usable");
        var shuffled = all.Records.ToArray();
        new Random(options.Seed).Shuffle(shuffled);
        int held = Math.Max(1, (int)Math.Round(shuffled.Length * options.ValidationFraction));
        if (held >= shuffled.Length)
            throw new DataFormatException(options.DataPath, null, $"has only {shuffled.Length} example(s): too few to hold out a validation set");
        var validationPart = shuffled.Take(held).Take(options.MaxEvalExamples ?? int.MaxValue).ToList();
        var trainPart = shuffled.Skip(held).Take(options.MaxExamples ?? int.MaxValue).ToList();
        return new RaceData(trainPart, validationPart,
            $"RACE from {options.DataPath} (config {options.Config}; {options.ValidationFraction:P0} held out for validation)", all.Skipped);
    }

    private static void Require(IReadOnlyList<RaceExample> examples, string path, string what)
    {
        if (examples.Count == 0) throw new DataFormatException(path, null, $"holds no {what} examples");
    }
}
