using System.Globalization;
using DatasetStatsProgram = PromptLossWeight.Samples.DatasetStats.Program;

namespace Race.Tests;

[Collection("console")]
public sealed class DatasetStatsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        TextWriter originalOut = Console.Out, originalError = Console.Error;
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            return (DatasetStatsProgram.Main(args), output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
        }
    }

    [Fact]
    public void A_dataset_whose_examples_all_have_the_same_ratio_still_gets_both_histograms()
    {
        string path = _dir.File("same.jsonl");
        File.WriteAllLines(path, ["{\"prompt\":\"abcd\",\"completion\":\"x\"}", "{\"prompt\":\"efgh\",\"completion\":\"y\"}"]);
        string output = _dir.File("stats");

        var (code, _, error) = Run(path, "--by", "chars", "--output", output);

        code.Should().Be(0, error);
        new FileInfo(Path.Combine(output, "rg_histogram_linear.png")).Length.Should().BeGreaterThan(0);
        new FileInfo(Path.Combine(output, "rg_histogram_log.png")).Length.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Character_ratios_of_a_json_lines_file_give_the_hand_computed_means_and_the_histograms()
    {
        string path = _dir.File("pairs.jsonl");
        // Ratios 2/4 = 0.5, 2/8 = 0.25, 4/2 = 2: arithmetic mean 0.9167, geometric mean 0.63.
        File.WriteAllLines(path, ["{\"q\":\"abcd\",\"a\":\"xy\"}", "{\"q\":\"abcdefgh\",\"a\":\"xy\"}", "{\"q\":\"ab\",\"a\":\"wxyz\"}"]);
        string output = _dir.File("stats");

        var (code, stdout, _) = Run(path, "--prompt-field", "q", "--completion-field", "a", "--by", "chars", "--output", output, "--bins", "5");

        code.Should().Be(0);
        stdout.Should().Contain("| arithmetic mean | 0.9167 |").And.Contain("| geometric mean | 0.63 |").And.Contain("| median | 0.5 |");
        File.ReadAllLines(Path.Combine(output, "rg.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[1], CultureInfo.InvariantCulture))
            .Should().Equal(0.5, 0.25, 2.0);
        File.ReadAllBytes(Path.Combine(output, "rg_histogram_linear.png")).Take(4).Should().Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 });
        File.ReadAllBytes(Path.Combine(output, "rg_histogram_log.png")).Take(4).Should().Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 });
    }

    [Fact]
    public void Token_ratios_use_the_given_tokenizer_model()
    {
        // A tiktoken file whose 256 ranks are the single bytes (no merges): every ASCII character is one token.
        string model = _dir.File("tokenizer.model");
        File.WriteAllLines(model, Enumerable.Range(0, 256).Select(b => $"{Convert.ToBase64String([(byte)b])} {b}"));
        string path = _dir.File("pairs.jsonl");
        File.WriteAllLines(path, ["{\"prompt\":\"abcd\",\"completion\":\"xy\"}", "{\"prompt\":\"abcdefgh\",\"completion\":\"xy\"}"]);

        var (code, stdout, error) = Run(path, "--tokenizer", _dir.Path, "--output", _dir.File("stats"));

        error.Should().BeEmpty();
        code.Should().Be(0);
        stdout.Should().Contain("Tiktoken").And.Contain("| arithmetic mean | 0.375 |").And.Contain("| geometric mean | 0.3536 |");
    }

    [Fact]
    public void Race_data_is_recognised_and_measured_on_the_rendered_prompt_and_the_answer_letter()
    {
        string path = RaceFixtureFiles.Write("parquet", _dir.Path, RaceFixtureFiles.Examples(12));

        var (code, stdout, _) = Run(path, "--by", "chars", "--output", _dir.File("stats"));

        code.Should().Be(0);
        stdout.Should().Contain("RACE").And.Contain("12 examples");
    }

    [Fact]
    public void A_record_without_a_completion_exits_1_naming_the_file_and_line()
    {
        string path = _dir.File("pairs.jsonl");
        File.WriteAllLines(path, ["{\"prompt\":\"p\",\"completion\":\"c\"}", "{\"prompt\":\"p\"}"]);

        var (code, _, error) = Run(path, "--by", "chars", "--output", _dir.File("stats"));

        code.Should().Be(1);
        error.Should().Contain(path).And.Contain("line 2").And.Contain("'completion'").And.NotContain("   at ");
    }
}
