using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Data;

public sealed class RaceReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Formats => new() { "parquet", "jsonl", "release" };

    private string WriteFixture(string format)
    {
        switch (format)
        {
            case "parquet":
                RaceParquet.Write(_dir.File("race.parquet"), RaceFixtures.Examples);
                return _dir.File("race.parquet");
            case "jsonl":
                RaceJsonLines.Write(_dir.File("race.jsonl"), RaceFixtures.Examples);
                return _dir.File("race.jsonl");
            default:
                RaceFixtures.WriteRelease(_dir.File("RACE"));
                return _dir.File("RACE");
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_format_reads_the_same_examples(string format)
    {
        string path = WriteFixture(format);

        var result = RaceDataset.Load(path);

        result.Records.Should().BeEquivalentTo(RaceFixtures.Examples, o => o.WithStrictOrdering());
        result.Records.Select(r => r.AnswerIndex).Should().Equal(1, 0, 3);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Config_middle_keeps_only_middle_school_questions(string format)
    {
        string path = WriteFixture(format);

        var result = RaceDataset.Load(path, RaceConfig.Middle);

        result.Records.Should().ContainSingle().Which.ExampleId.Should().Be("middle7.txt");
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void The_subset_size_limits_the_number_of_examples(string format)
    {
        string path = WriteFixture(format);

        var result = RaceDataset.Load(path, options: new DataReadOptions { MaxRecords = 2 });

        result.Records.Should().HaveCount(2);
    }

    [Fact]
    public void The_release_validation_split_is_the_dev_folder()
    {
        string root = WriteFixture("release");
        Directory.Delete(Path.Combine(root, "train"), recursive: true);

        RaceDataset.Load(root, split: RaceSplit.Validation).Records.Should().HaveCount(3);
        var act = () => RaceDataset.Load(root, split: RaceSplit.Train);
        act.Should().Throw<DataFormatException>().Where(e => e.Problem.Contains("'train'"));
    }

    [Fact]
    public void A_parquet_folder_in_the_hugging_face_layout_is_read_by_config_and_split()
    {
        Directory.CreateDirectory(_dir.File("all"));
        RaceParquet.Write(Path.Combine(_dir.Path, "all", "validation-00000-of-00001.parquet"), RaceFixtures.Examples[..2]);
        RaceParquet.Write(Path.Combine(_dir.Path, "all", "train-00000-of-00001.parquet"), RaceFixtures.Examples);

        RaceDataset.Load(_dir.Path, RaceConfig.All, RaceSplit.Validation).Records.Should().HaveCount(2);
        RaceDataset.Load(_dir.Path, RaceConfig.All, RaceSplit.Train).Records.Should().HaveCount(3);
    }

    [Theory]
    [InlineData("options", "[\"a\",\"b\",\"c\"]", "expected 4 options but found 3")]
    [InlineData("options", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "expected 4 options but found 5")]
    [InlineData("answer", "\"E\"", "the answer 'E' is not one of A, B, C, D")]
    [InlineData("answer", "\"b\"", "the answer 'b' is not one of A, B, C, D")]
    [InlineData("article", "\"\"", "field 'article' is empty")]
    [InlineData("question", "\" \"", "field 'question' is empty")]
    [InlineData("options", "[\"a\",\"\",\"c\",\"d\"]", "option B is empty")]
    [InlineData("options", "\"abcd\"", "must be an array")]
    [InlineData("answer", "3", "must be a string")]
    public void A_bad_json_lines_record_names_the_file_the_line_and_the_problem(string field, string value, string problem)
    {
        string path = _dir.File("race.jsonl");
        string bad = field switch
        {
            "options" => RaceFixtures.FlatLine(options: value),
            "answer" => RaceFixtures.FlatLine(answer: value),
            "article" => RaceFixtures.FlatLine(article: value),
            _ => RaceFixtures.FlatLine(question: value),
        };
        File.WriteAllLines(path, [RaceFixtures.FlatLine(), bad]);

        var act = () => RaceJsonLines.Read(path);

        act.Should().Throw<DataFormatException>()
            .Where(e => e.FileName == path && e.Record == "line 2" && e.Problem.Contains(problem));
    }

    [Fact]
    public void Bad_records_are_skipped_and_counted_under_the_skip_policy()
    {
        string path = _dir.File("race.jsonl");
        File.WriteAllLines(path, [RaceFixtures.FlatLine(answer: "\"Z\""), RaceFixtures.FlatLine(), "{\"article\":\"x\"}", "not json"]);

        var result = RaceJsonLines.Read(path, new DataReadOptions { BadRecords = BadRecordPolicy.Skip });

        result.Records.Should().ContainSingle();
        result.Skipped.Select(s => s.Record).Should().Equal("line 1", "line 3", "line 4");
    }

    [Fact]
    public void A_parquet_row_with_three_options_names_the_row()
    {
        string path = _dir.File("race.parquet");
        RaceParquet.Write(path, [RaceFixtures.Examples[0], RaceFixtures.Examples[1] with { Options = ["x", "y", "z"] }]);

        var act = () => RaceParquet.Read(path);

        act.Should().Throw<DataFormatException>().Where(e => e.Record == "row 2" && e.Problem.Contains("expected 4 options but found 3"));
    }

    [Fact]
    public void A_release_file_with_a_bad_answer_names_the_file_and_the_question()
    {
        string file = _dir.File("high5.txt");
        File.WriteAllText(file, RaceFixtures.ReleaseJson("high5.txt", "Text.", [("Q1?", ["a", "b", "c", "d"], "A"), ("Q2?", ["a", "b", "c", "d"], "F")]));

        var act = () => RaceDataset.Load(file);

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == file && e.Record == "question 2" && e.Problem.Contains("'F'"));
    }

    [Fact]
    public void A_release_file_whose_arrays_differ_in_length_is_one_bad_record()
    {
        string file = _dir.File("high6.txt");
        File.WriteAllText(file, "{\"article\":\"T\",\"questions\":[\"a\",\"b\"],\"options\":[[\"1\",\"2\",\"3\",\"4\"]],\"answers\":[\"A\",\"B\"],\"id\":\"high6.txt\"}");

        var result = RaceOriginalRelease.ReadFile(File.OpenRead(file), file, new DataReadOptions { BadRecords = BadRecordPolicy.Skip });

        result.Records.Should().BeEmpty();
        result.Skipped.Should().ContainSingle().Which.Problem.Should().Contain("2 questions, 1 option lists, 2 answers");
    }

    [Fact]
    public void A_truncated_release_file_is_invalid_json()
    {
        string file = _dir.File("high7.txt");
        string json = RaceFixtures.ReleaseJson("high7.txt", "Text.", [("Q1?", ["a", "b", "c", "d"], "A")]);
        File.WriteAllText(file, json[..(json.Length - 10)]);

        var act = () => RaceDataset.Load(file);

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == file && e.Problem.Contains("invalid JSON"));
    }

    [Fact]
    public void A_path_that_is_not_race_data_says_what_was_expected()
    {
        var act = () => RaceDataset.Load(_dir.Path);

        act.Should().Throw<DataFormatException>().Where(e => e.Problem.Contains("train|dev|test"));
    }
}
