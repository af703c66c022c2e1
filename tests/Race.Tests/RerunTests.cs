using PromptLossWeight.Samples.Race;
using PromptLossWeight.Samples.Race.Pretraining;
using PromptLossWeight.Samples.Race.Synthetic;

namespace Race.Tests;

/// <summary>Re-running a sweep on its output folder: the pretraining cache, resuming, --overwrite.</summary>
public sealed class RerunTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static RaceExperimentOptions Tiny(string output) => new()
    {
        OutputDirectory = output,
        PromptLossWeights = [1, 0],
        MaxSteps = 4,
        EvalSteps = 2,
        BatchSize = 8,
        Device = "cpu",
        MaxEvalExamples = 16,
        Synthetic = new SyntheticRaceOptions { TrainExamples = 32, ValidationExamples = 16 },
        SmallModel = new SmallModelOptions { HiddenSize = 16, Layers = 1, Heads = 2, IntermediateSize = 32 },
        Pretraining = new PretrainingOptions
        {
            Steps = 3, BatchSize = 4, Evaluations = 1,
            Corpus = new ReadingCorpusOptions { Documents = 16, ValidationDocuments = 8 },
        },
    };

    private static string PretrainedWeights(RaceExperimentResult result) => Path.Combine(result.Pretrained!.Directory, "model.safetensors");

    [Fact]
    public void The_first_sweep_pretrains_once_and_every_plw_run_starts_from_the_pretrained_weights()
    {
        var loggers = new CapturingLoggerFactory();

        var result = new RaceExperiment(Tiny(_dir.File("out")), loggers).Run(new SilentProgress());

        result.Pretrained.Should().NotBeNull();
        result.Pretrained!.Reused.Should().BeFalse();
        result.Pretrained.History.Should().ContainSingle().Which.Step.Should().Be(3);
        File.Exists(PretrainedWeights(result)).Should().BeTrue();
        result.Start.Should().Contain("new sweep");
        File.ReadAllText(result.ReportPath).Should().Contain("Pretraining: trained now").And.Contain("## Reading");
    }

    [Fact]
    public void A_rerun_reuses_the_cached_pretraining_and_resumes_each_run_from_its_latest_checkpoint()
    {
        string output = _dir.File("out");
        var first = new RaceExperiment(Tiny(output)).Run(new SilentProgress());
        DateTime written = File.GetLastWriteTimeUtc(PretrainedWeights(first));
        var loggers = new CapturingLoggerFactory();

        var second = new RaceExperiment(Tiny(output), loggers).Run(new SilentProgress());

        second.Start.Should().Contain("resuming");
        second.Pretrained!.Reused.Should().BeTrue();
        second.Pretrained.Directory.Should().Be(first.Pretrained!.Directory);
        File.GetLastWriteTimeUtc(PretrainedWeights(second)).Should().Be(written, "the cached model is read, not trained again");
        loggers.Messages.Should().NotContain(m => m.StartsWith("Race.Pretraining", StringComparison.Ordinal), "nothing is pretrained");
        foreach (string plw in new[] { "1", "0" })
            loggers.Messages.Should().Contain(m => m.StartsWith($"Race.PLW{plw}:", StringComparison.Ordinal) && m.Contains("Resumed from") && m.Contains("checkpoint-4"));
        second.Histories.Select(h => h.History.Select(r => (r.Step, r.TrainLoss)))
            .Should().BeEquivalentTo(first.Histories.Select(h => h.History.Select(r => (r.Step, r.TrainLoss))), o => o.WithStrictOrdering());
    }

    [Fact]
    public void Changing_a_pretraining_setting_gives_another_cache_key_and_pretrains_again()
    {
        var a = Tiny(_dir.File("a"));
        var b = a with { Pretraining = a.Pretraining with { LearningRate = a.Pretraining.LearningRate * 3 } };
        var first = new RaceExperiment(a).Run(new SilentProgress());

        var second = new RaceExperiment(b with { ExistingOutput = ExistingOutputPolicy.Resume, OutputDirectory = a.OutputDirectory, PromptLossWeights = [0.5] })
            .Run(new SilentProgress());

        second.Pretrained!.Reused.Should().BeFalse();
        Path.GetFileName(second.Pretrained.Directory).Should().NotBe(Path.GetFileName(first.Pretrained!.Directory));
        Directory.Exists(first.Pretrained.Directory).Should().BeTrue("earlier cache entries are left where they are");
    }

    [Fact]
    public void The_cache_trains_once_per_settings_and_a_changed_setting_trains_again()
    {
        string output = _dir.File("cache");
        var corpus = new ReadingCorpusOptions { Documents = 8, ValidationDocuments = 4 };
        var tokenizer = WordLevelTokenizer.Load();
        var (train, validation) = SyntheticReadingCorpus.Generate(corpus, tokenizer);
        var config = new PromptLossWeight.Llama.Model.LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true,
        };
        int built = 0;
        PromptLossWeight.Llama.Model.LlamaForCausalLM NewModel()
        {
            built++;
            return new PromptLossWeight.Llama.Model.LlamaForCausalLM(config, TorchSharp.torch.CPU).InitializeWeights(1);
        }
        var trainer = new PromptLossWeight.Training.TrainerOptions { OutputDirectory = "x", MaxSteps = 2, BatchSize = 4, Device = TorchSharp.torch.CPU };
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        var a1 = PretrainedModelCache.GetOrTrain(output, new { steps = 2, lr = 1e-3 }, NewModel, trainer, train, validation, logger);
        var a2 = PretrainedModelCache.GetOrTrain(output, new { steps = 2, lr = 1e-3 }, NewModel, trainer, train, validation, logger);
        var b = PretrainedModelCache.GetOrTrain(output, new { steps = 2, lr = 2e-3 }, NewModel, trainer, train, validation, logger);

        built.Should().Be(2, "the second request with the same settings is served from the cache");
        a1.Reused.Should().BeFalse();
        a2.Reused.Should().BeTrue();
        a2.Directory.Should().Be(a1.Directory);
        b.Reused.Should().BeFalse();
        b.Directory.Should().NotBe(a1.Directory);
        File.ReadAllText(Path.Combine(b.Directory, PretrainedModelCache.SettingsFileName)).Should().Contain("0.002");
    }

    [Fact]
    public void A_run_folder_made_with_other_settings_stops_the_sweep_before_training_and_names_overwrite()
    {
        string output = _dir.File("out");
        new RaceExperiment(Tiny(output)).Run(new SilentProgress());
        var loggers = new CapturingLoggerFactory();

        var act = () => new RaceExperiment(Tiny(output) with { LearningRate = 1e-2 }, loggers).Run(new SilentProgress());

        act.Should().Throw<ArgumentException>().WithMessage("*plw_1*other settings*--overwrite*");
        loggers.Messages.Should().BeEmpty("nothing was trained");
    }

    [Fact]
    public void Overwrite_removes_the_earlier_sweep_but_leaves_other_files_in_the_folder()
    {
        string output = _dir.File("out");
        new RaceExperiment(Tiny(output)).Run(new SilentProgress());
        string notes = Path.Combine(output, "my-notes.txt");
        File.WriteAllText(notes, "keep me");
        string stale = Path.Combine(output, "runs", "plw_0.5");
        Directory.CreateDirectory(stale);

        var result = new RaceExperiment(Tiny(output) with { LearningRate = 1e-2, ExistingOutput = ExistingOutputPolicy.Overwrite })
            .Run(new SilentProgress());

        result.Start.Should().Contain("--overwrite").And.Contain("removed").And.Contain("starting fresh");
        result.Pretrained!.Reused.Should().BeFalse();
        File.ReadAllText(notes).Should().Be("keep me");
        Directory.Exists(stale).Should().BeFalse("the earlier sweep's runs are gone");
        result.Histories.Should().OnlyContain(h => h.History.Count == 2);
    }
}
