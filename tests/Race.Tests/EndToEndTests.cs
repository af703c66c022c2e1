using System.Globalization;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Samples.Race.Synthetic;

namespace Race.Tests;

public sealed class EndToEndTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private RaceExperimentOptions Tiny(string output) => new()
    {
        OutputDirectory = output,
        PromptLossWeights = [1, 0],
        MaxSteps = 4,
        EvalSteps = 2,
        BatchSize = 8,
        Device = "cpu",
        MaxEvalExamples = 16,
        Synthetic = new SyntheticRaceOptions { TrainExamples = 32, ValidationExamples = 16, FillerSentences = 1 },
        SmallModel = new SmallModelOptions { HiddenSize = 16, Layers = 1, Heads = 2, IntermediateSize = 32 },
        Pretraining = new PromptLossWeight.Samples.Race.Pretraining.PretrainingOptions { Steps = 0 },
    };

    [Fact]
    public void A_tiny_sweep_writes_the_csv_plots_summary_and_report_with_finite_metrics()
    {
        string output = _dir.File("out");

        var result = new RaceExperiment(Tiny(output)).Run(new SilentProgress());

        result.Summaries.Select(s => s.PromptLossWeight).Should().Equal(1, 0);
        result.Histories.Should().OnlyContain(h => h.History.Count == 2);
        foreach (var (_, history) in result.Histories)
            foreach (MetricRecord r in history)
                foreach (string m in new[] { MetricNames.PromptLoss, MetricNames.CompletionLoss, MetricNames.FullLoss, MetricNames.Accuracy })
                    double.IsFinite(r.Get(m)).Should().BeTrue($"{m} at step {r.Step} is {r.Get(m)}");

        string[] csv = File.ReadAllLines(Path.Combine(output, "metrics.csv"));
        csv[0].Split(',').Should().Contain(["plw", "prompt_loss", "completion_loss", "full_loss", "accuracy"]);
        csv.Skip(1).Select(l => double.Parse(l.Split(',')[2], CultureInfo.InvariantCulture)).Should().Equal(1, 1, 0, 0);

        foreach (string png in new[] { "plots/plw_1.png", "plots/plw_0.png", "plots/comparison.png", "plots/sweep.png", "plots/rg_histogram.png" })
            File.ReadAllBytes(Path.Combine(output, png)).Take(4).Should().Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png);
        string report = File.ReadAllText(Path.Combine(output, "report.md"));
        report.Should().Contain("plots/comparison.png").And.Contain("plots/sweep.png").And.Contain("plots/rg_histogram.png")
            .And.Contain("metrics.csv").And.Contain("| PLW |").And.Contain("## Reading").And.Contain("The best accuracy");
        File.ReadAllText(Path.Combine(output, "summary.md")).Should().Contain("accuracy at min full loss");
        result.DatasetGenerationRatio.ArithmeticMean.Should().BeGreaterThan(0);
        result.SequenceGenerationRatio.ArithmeticMean.Should().BeGreaterThan(result.DatasetGenerationRatio.ArithmeticMean);
    }

    [Fact]
    public void A_packed_sweep_trains_on_rows_of_several_examples_and_reports_finite_metrics()
    {
        string output = _dir.File("packed");

        var result = new RaceExperiment(Tiny(output) with { PromptLossWeights = [0.1], PackedRowLength = 512, BatchSize = 2 })
            .Run(new SilentProgress());

        result.Histories.Should().ContainSingle().Which.History.Should().HaveCount(2);
        foreach (MetricRecord r in result.Histories[0].History)
        {
            double.IsFinite(r.TrainLoss).Should().BeTrue($"train loss at step {r.Step}");
            double.IsFinite(r.Get(MetricNames.CompletionLoss)).Should().BeTrue($"completion loss at step {r.Step}");
        }
    }

    [Fact]
    public void Data_without_a_model_trains_the_small_model_on_a_vocabulary_built_from_the_data()
    {
        string path = RaceFixtureFiles.Write("parquet", _dir.Path, RaceFixtureFiles.Examples(40));
        string output = _dir.File("out");

        var result = new RaceExperiment(Tiny(output) with { DataPath = path, PromptLossWeights = [0.1] }).Run(new SilentProgress());

        result.Summaries.Should().ContainSingle().Which.BestCompletionLoss.Value.Should().BeGreaterThan(0);
        File.ReadAllLines(Path.Combine(output, "vocab.txt")).Should().Contain(["[PAD]", "[UNK]", "<|im_end|>", "lives", "Article"]);
    }

    [Fact]
    public void A_checkpoint_folder_is_fine_tuned_with_lora_adapters_only()
    {
        string checkpoint = _dir.File("tiny-llama");
        var tokenizer = WordLevelTokenizer.Load();
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true,
        };
        using (var model = new LlamaForCausalLM(config).InitializeWeights(3))
            LlamaCheckpoint.Save(model, checkpoint);
        File.Copy(WordLevelTokenizer.DefaultVocabularyPath, Path.Combine(checkpoint, "vocab.txt"));
        var before = SafeTensors.Load(Path.Combine(checkpoint, LlamaCheckpoint.SingleFileName));
        string output = _dir.File("out");

        var result = new RaceExperiment(Tiny(output) with { ModelDirectory = checkpoint, PromptLossWeights = [0.1], LoraRank = 2, LearningRate = 1e-2 })
            .Run(new SilentProgress());

        result.Summaries.Should().ContainSingle();
        var after = SafeTensors.Load(Path.Combine(checkpoint, LlamaCheckpoint.SingleFileName));
        after.Keys.Should().BeEquivalentTo(before.Keys);
        foreach (string name in before.Keys)
            after[name].allclose(before[name], rtol: 0, atol: 0).Should().BeTrue($"the base checkpoint's {name} is never written");
        string saved = Directory.GetFiles(Path.Combine(output, "runs", "plw_0.1"), "model.safetensors", SearchOption.AllDirectories).First();
        SafeTensors.Load(saved).Keys.Should().NotBeEmpty().And.OnlyContain(k => k.Contains("lora_"), "only the LoRA adapters are trainable");
    }
}
