using PromptLossWeight.Samples.Race;
using PromptLossWeight.Samples.Race.Pretraining;
using PromptLossWeight.Samples.Race.Synthetic;

namespace Race.Tests;

[Collection("console")]
public sealed class ShippedPretrainingTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static object SettingsOf(RaceExperimentOptions options) =>
        RaceExperiment.PretrainingSettings(options, ModelSetup.SmallModelConfig(options, WordLevelTokenizer.Load()), WordLevelTokenizer.DefaultVocabularyPath);

    private static string Shipped => ShippedPretraining.Find(SettingsOf(RacePresets.Cpu))
        ?? throw new InvalidOperationException($"No shipped pretrained model in {ShippedPretraining.Folder} has the key of the default settings, {PretrainedModelCache.Key(SettingsOf(RacePresets.Cpu))}; run scripts/ship-pretrained.sh.");

    /// <summary>The options the command line of scripts/ship-pretrained.sh parses to.</summary>
    private static RaceExperimentOptions OptionsOfTheShippingCommand()
    {
        string script = File.ReadAllText(Path.Combine(RepositoryRoot(), "scripts", "ship-pretrained.sh"));
        string line = script.Split('\n').Single(l => l.StartsWith("dotnet run ", StringComparison.Ordinal));
        string[] args = line[(line.IndexOf(" -- ", StringComparison.Ordinal) + 4)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.Trim('"')).Select(a => a == "$out" ? "ignored-output" : a).ToArray();
        RaceExperimentOptions? parsed = null;
        var original = Program.Sweep;
        Program.Sweep = (options, _) => { parsed = options; return 0; };
        try
        {
            Program.Main(args).Should().Be(0);
        }
        finally
        {
            Program.Sweep = original;
        }
        return parsed!;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PromptLossWeight.sln"))) return dir.FullName;
        throw new InvalidOperationException("PromptLossWeight.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void The_default_settings_have_the_key_of_the_shipped_pretrained_model_and_its_settings_file_says_so()
    {
        string shipped = Shipped;

        Path.GetFileName(shipped).Should().Be(PretrainedModelCache.Key(SettingsOf(RacePresets.Cpu)));
        File.ReadAllText(Path.Combine(shipped, PretrainedModelCache.SettingsFileName)).Should().Be(PretrainedModelCache.SettingsJson(SettingsOf(RacePresets.Cpu)));
    }

    [Fact]
    public void The_recorded_command_pretrains_with_the_shipped_settings_from_scratch()
    {
        File.ReadAllText(Path.Combine(Shipped, ShippedPretraining.CommandFileName)).Trim().Should().Be("scripts/ship-pretrained.sh");

        RaceExperimentOptions options = OptionsOfTheShippingCommand();

        options.PretrainFromScratch.Should().BeTrue();
        PretrainedModelCache.Key(SettingsOf(options)).Should().Be(Path.GetFileName(Shipped));
    }

    [Fact]
    public void Every_shipped_file_matches_its_sha256()
    {
        var act = () => ShippedPretraining.Verify(Shipped);

        act.Should().NotThrow();
        File.ReadAllLines(Path.Combine(Shipped, ShippedPretraining.ChecksumFileName)).Should().Contain(l => l.EndsWith("  model.safetensors", StringComparison.Ordinal));
    }

    [Fact]
    public void A_changed_byte_in_the_shipped_weights_is_a_one_line_error_naming_the_file()
    {
        string copy = _dir.File("shipped");
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(Shipped)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        string weights = Path.Combine(copy, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(weights, bytes);

        var act = () => ShippedPretraining.Verify(copy);

        act.Should().Throw<InvalidDataException>().Which.Message.Should().StartWith(weights).And.Contain("SHA-256").And.NotContain("\n");
    }

    [Fact]
    public void The_sweep_of_the_default_installs_the_shipped_model_instead_of_pretraining()
    {
        string output = _dir.File("out");
        var options = RacePresets.Cpu with
        {
            OutputDirectory = output, PromptLossWeights = [1], MaxSteps = 1, EvalSteps = 1, MaxEvalExamples = 8,
            Synthetic = RacePresets.Cpu.Synthetic with { TrainExamples = 8, ValidationExamples = 8 }, Device = "cpu",
        };
        var progress = new RecordingProgress();

        new RaceExperiment(options).Run(progress);

        progress.Messages.Should().Contain(m => m.StartsWith("pretraining: the shipped model", StringComparison.Ordinal));
        progress.PretrainingSteps.Should().Be(0);
        string installed = PretrainedModelCache.EntryDirectory(output, SettingsOf(options));
        ShippedPretraining.Sha256(Path.Combine(installed, "model.safetensors")).Should().Be(ShippedPretraining.Sha256(Path.Combine(Shipped, "model.safetensors")));
    }
}
