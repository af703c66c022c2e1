using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;
using PromptLossWeight.Samples.Race;

namespace Race.Tests;

public sealed class RaceDataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("jsonl")]
    [InlineData("parquet")]
    [InlineData("release")]
    public void Each_format_gives_training_and_validation_examples(string format)
    {
        var examples = RaceFixtureFiles.Examples(40);
        string path = RaceFixtureFiles.Write(format, _dir.Path, examples);

        var data = RaceData.Load(new RaceExperimentOptions { DataPath = path, ValidationFraction = 0.25 });

        data.Train.Should().HaveCount(30);
        data.Validation.Should().HaveCount(10);
        data.Train.Concat(data.Validation).Select(e => e.Question).Should().BeEquivalentTo(examples.Select(e => e.Question));
    }

    [Fact]
    public void Subset_sizes_limit_training_and_validation_examples()
    {
        string path = RaceFixtureFiles.Write("jsonl", _dir.Path, RaceFixtureFiles.Examples(40));

        var data = RaceData.Load(new RaceExperimentOptions { DataPath = path, MaxExamples = 7, MaxEvalExamples = 3, ValidationFraction = 0.25 });

        data.Train.Should().HaveCount(7);
        data.Validation.Should().HaveCount(3);
    }

    [Fact]
    public void The_middle_config_of_a_release_folder_reads_only_middle_school_files()
    {
        string root = RaceFixtureFiles.Write("release", _dir.Path, RaceFixtureFiles.Examples(40));

        var data = RaceData.Load(new RaceExperimentOptions { DataPath = root, Config = RaceConfig.Middle });

        data.Train.Concat(data.Validation).Should().OnlyContain(e => e.ExampleId.StartsWith("middle"));
        data.Validation.Should().HaveCount(5);
    }

    [Fact]
    public void Malformed_records_are_skipped_and_counted_on_request()
    {
        var examples = RaceFixtureFiles.Examples(20).ToList();
        examples[3] = examples[3] with { Answer = "E" };
        string path = RaceFixtureFiles.Write("jsonl", _dir.Path, []);
        File.WriteAllLines(path, examples.Select((e, i) => i == 3
            ? "{\"example_id\":\"x\",\"article\":\"a\",\"question\":\"q\",\"options\":[\"1\",\"2\",\"3\",\"4\"],\"answer\":\"E\"}"
            : System.Text.Json.JsonSerializer.Serialize(new { example_id = e.ExampleId, article = e.Article, question = e.Question, options = e.Options, answer = e.Answer })));

        var act = () => RaceData.Load(new RaceExperimentOptions { DataPath = path });
        act.Should().Throw<DataFormatException>().Where(e => e.Record == "line 4");

        var data = RaceData.Load(new RaceExperimentOptions { DataPath = path, SkipBadRecords = true });
        data.Skipped.Should().ContainSingle().Which.Record.Should().Be("line 4");
        (data.Train.Count + data.Validation.Count).Should().Be(19);
    }
}
