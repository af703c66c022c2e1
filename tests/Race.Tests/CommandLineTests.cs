using PromptLossWeight.Samples.Race;

namespace Race.Tests;

[CollectionDefinition("console", DisableParallelization = true)]
public sealed class ConsoleCollection;

[Collection("console")]
public sealed class CommandLineTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        TextWriter original = Console.Error;
        Console.SetError(error);
        try
        {
            return (Program.Main(args), error.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }

    [Fact]
    public void A_json_lines_record_with_three_options_exits_1_naming_the_file_and_line_without_a_stack_trace()
    {
        string path = _dir.File("race.jsonl");
        File.WriteAllLines(path,
        [
            "{\"example_id\":\"a\",\"article\":\"Tom lives in Rome .\",\"question\":\"Where ?\",\"options\":[\"Rome\",\"Oslo\",\"Lima\",\"Bern\"],\"answer\":\"A\"}",
            "{\"example_id\":\"b\",\"article\":\"Tom lives in Rome .\",\"question\":\"Where ?\",\"options\":[\"Rome\",\"Oslo\",\"Lima\"],\"answer\":\"A\"}",
        ]);

        var (code, error) = Run("--data", path, "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain(path).And.Contain("line 2").And.Contain("expected 4 options but found 3").And.NotContain("   at ");
    }

    [Fact]
    public void A_truncated_parquet_file_exits_1_naming_the_file()
    {
        string path = RaceFixtureFiles.Write("parquet", _dir.Path, RaceFixtureFiles.Examples(10));
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 30)]);

        var (code, error) = Run("--data", path, "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain(path).And.Contain("PAR1").And.NotContain("   at ");
    }

    [Fact]
    public void A_release_file_with_an_answer_outside_A_to_D_exits_1_naming_the_file_and_question()
    {
        string root = _dir.File("RACE");
        RaceFixtureFiles.WriteReleaseFile(root, "dev", "high1.txt", "Ann lives in Oslo .", [("Where ?", ["Oslo", "Rome", "Lima", "Bern"], "A")]);
        string bad = RaceFixtureFiles.WriteReleaseFile(root, "train", "high2.txt", "Ann lives in Oslo .",
            [("Where ?", ["Oslo", "Rome", "Lima", "Bern"], "A"), ("Who ?", ["Ann", "Bob", "Eva", "Max"], "F")]);

        var (code, error) = Run("--data", root, "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain(bad).And.Contain("question 2").And.Contain("'F'").And.NotContain("   at ");
    }

    [Fact]
    public void A_plw_list_with_a_word_exits_1_with_a_usage_message()
    {
        var (code, error) = Run("--plw", "1,half", "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain("--plw").And.Contain("'half'");
    }

    [Fact]
    public void Overwrite_and_resume_together_exit_1_naming_both_flags()
    {
        var (code, error) = Run("--overwrite", "--resume", "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain("--overwrite").And.Contain("--resume").And.NotContain("   at ");
    }

    [Fact]
    public void An_unknown_preset_exits_1_listing_the_presets()
    {
        var (code, error) = Run("--preset", "huge", "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain("--preset huge").And.Contain("paper");
    }

    [Fact]
    public void The_paper_preset_without_data_and_model_exits_1_saying_what_it_needs()
    {
        var (code, error) = Run("--preset", "paper", "--output", _dir.File("out"));

        code.Should().Be(1);
        error.Should().Contain("--preset paper needs --data").And.Contain("--model");
    }

    [Fact]
    public void The_command_line_runs_a_tiny_sweep_and_writes_the_report()
    {
        string output = _dir.File("out");

        var (code, error) = Run("--plw", "1,0", "--max-steps", "2", "--eval-steps", "1", "--batch-size", "4", "--hidden-size", "16",
            "--layers", "1", "--heads", "2", "--synthetic-examples", "16", "--max-eval-examples", "8", "--device", "cpu", "--pretrain-steps", "0", "--output", output);

        error.Should().BeEmpty();
        code.Should().Be(0);
        File.Exists(Path.Combine(output, "report.md")).Should().BeTrue();
        File.Exists(Path.Combine(output, "plots", "comparison.png")).Should().BeTrue();
    }

    [Fact]
    public void A_release_layout_folder_trains_the_small_model_on_a_vocabulary_built_from_its_words()
    {
        // Words the shipped vocabulary lacks, so the vocabulary must come from the data; the answer letters and the
        // pretraining corpus's towns must still have ids of their own.
        string root = _dir.File("RACE");
        string[] animals = ["otter", "heron", "badger", "lynx", "walrus", "gecko"];
        for (int i = 0; i < 12; i++)
        {
            string animal = animals[i % animals.Length];
            string[] options = [animal, animals[(i + 1) % animals.Length], animals[(i + 2) % animals.Length], animals[(i + 3) % animals.Length]];
            RaceFixtureFiles.WriteReleaseFile(root, i < 9 ? "train" : "dev", (i % 2 == 0 ? "high" : "middle") + i + ".txt",
                $"The keeper fed the {animal} near the pond every morning.", [("Which animal did the keeper feed?", options, "A")]);
        }
        string output = _dir.File("out");

        var (code, error) = Run("--data", root, "--plw", "1,0", "--max-steps", "2", "--eval-steps", "1", "--batch-size", "4", "--hidden-size", "16",
            "--layers", "1", "--heads", "2", "--device", "cpu", "--pretrain-steps", "2", "--pretrain-batch-size", "4", "--output", output);

        error.Should().BeEmpty();
        code.Should().Be(0);
        string[] vocabulary = File.ReadAllLines(Path.Combine(output, "vocab.txt"));
        vocabulary.Should().Contain(["A", "B", "C", "D", "otter", "walrus", "keeper", "Paris", "Accra"]);
        vocabulary.Should().OnlyHaveUniqueItems();
        File.Exists(Path.Combine(output, "report.md")).Should().BeTrue();
    }
}
