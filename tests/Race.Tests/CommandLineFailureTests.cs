using System.Runtime.Versioning;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Runtime;
using PromptLossWeight.Samples;
using PromptLossWeight.Training;
using Race.Tests.Support;
using static TorchSharp.torch;

namespace Race.Tests;

/// <summary>
/// Every failure of the built samples, run as processes, ends in one line on standard error naming the cause, with exit
/// code 1 and no stack trace; --verbose adds the stack trace above that line.
/// </summary>
public sealed class CommandLineFailureTests : IDisposable
{
    private static readonly string[] TinyRace =
        ["--max-steps", "1", "--batch-size", "4", "--hidden-size", "16", "--layers", "1", "--heads", "2", "--synthetic-examples", "16", "--max-eval-examples", "8", "--device", "cpu"];

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Race_with_a_prompt_loss_weight_of_1e308_exits_1_naming_the_plw_option()
    {
        SampleRun run = SampleProcess.Race("--plw", "1e308", "--output", _dir.File("out"));

        AssertOneLineFailure(run, "error: --plw values must be numbers from 0 to 1000 (the article sweeps 0 to 1); got 1E+308.");
    }

    [Fact]
    public void Race_with_a_learning_rate_of_1e9_exits_1_naming_the_lr_option_before_training()
    {
        SampleRun run = SampleProcess.Race("--lr", "1e9", "--output", _dir.File("out"));

        AssertOneLineFailure(run, "error: --lr must be > 0 and at most 1 (AdamW moves each weight by about lr per step); got 1000000000.");
        Directory.Exists(_dir.File("out")).Should().BeFalse("options are checked before anything is written");
    }

    [Fact]
    public void Race_with_an_output_that_names_an_existing_file_exits_1_naming_it()
    {
        string file = _dir.File("results.txt");
        File.WriteAllText(file, "keep me");

        SampleRun run = SampleProcess.Race("--output", file);

        AssertOneLineFailure(run, $"error: --output {file} is a file; it must name a folder.");
        File.ReadAllText(file).Should().Be("keep me");
    }

    [Fact]
    public void Race_with_an_option_value_of_the_wrong_type_exits_1_in_one_line()
    {
        SampleRun run = SampleProcess.Race("--epochs", "abc");

        AssertOneLineFailure(run, "error: Cannot parse argument 'abc' for option '--epochs' as expected type 'System.Int32'. (see --help)");
    }

    [UnixFact]
    [UnsupportedOSPlatform("windows")]
    public void Race_with_an_unreadable_data_folder_exits_1_naming_the_folder()
    {
        string root = _dir.File("RACE");
        RaceFixtureFiles.WriteReleaseFile(root, "train", "high1.txt", "Ann lives in Oslo .", [("Where ?", ["Oslo", "Rome", "Lima", "Bern"], "A")]);
        string high = Path.Combine(root, "train", "high");
        File.SetUnixFileMode(high, UnixFileMode.None);
        string output = _dir.File("out");
        Directory.CreateDirectory(output);   // writable by the unprivileged user, so the data folder is the only problem
        File.SetUnixFileMode(output, (UnixFileMode)0x1FF);
        try
        {
            SampleRun run = SampleProcess.RunUnprivileged("Race", "--data", root, "--output", output);

            AssertOneLineFailure(run, $"error: {high}: cannot be read (Access to the path '{high}' is denied.)");
        }
        finally
        {
            File.SetUnixFileMode(high, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [UnixFact]
    [UnsupportedOSPlatform("windows")]
    public void Race_with_an_output_folder_it_may_not_create_exits_1_saying_permission_denied()
    {
        string locked = _dir.File("locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string output = Path.Combine(locked, "out");

        SampleRun run = SampleProcess.RunUnprivileged("Race", [.. TinyRace, "--plw", "1", "--output", output]);

        AssertOneLineFailure(run, $"error: permission denied: Access to the path '{output}' is denied.");
    }

    [Fact]
    public void Race_with_a_checkpoint_holding_an_integer_tensor_exits_1_naming_the_file_the_tensor_and_the_dtype()
    {
        string model = ForgedCheckpoint(tensors => tensors["model.norm.weight"] = ones(16, dtype: ScalarType.Int8));
        string weights = Path.Combine(model, LlamaCheckpoint.SingleFileName);

        SampleRun run = SampleProcess.Race([.. TinyRace, "--model", model, "--plw", "1,0", "--parallel", "2", "--output", _dir.File("out")]);

        run.ExitCode.Should().Be(1, run.Error);
        run.ShowsStackTrace.Should().BeFalse(run.Error);
        run.LastErrorLine.Should().StartWith($"error: {weights} does not match the model: mis-shaped tensors: model.norm.weight: dtype I8 in model.safetensors is not floating point.");
    }

    [Fact]
    public void Race_with_verbose_prints_the_stack_trace_and_still_ends_with_the_one_line_cause()
    {
        SampleRun run = SampleProcess.Race("--plw", "-1", "--output", _dir.File("out"), "--verbose");

        run.ExitCode.Should().Be(1);
        run.ShowsStackTrace.Should().BeTrue(run.Error);
        run.Error.Should().Contain("System.ArgumentException");
        run.LastErrorLine.Should().Be("error: --plw values must be numbers from 0 to 1000 (the article sweeps 0 to 1); got -1.");
    }

    [Fact]
    public void DatasetStats_on_a_missing_file_exits_1_naming_it()
    {
        string missing = _dir.File("nowhere.jsonl");

        SampleRun run = SampleProcess.DatasetStats(missing, "--output", _dir.File("stats"));

        AssertOneLineFailure(run, $"error: {missing}: cannot be opened (Could not find file '{missing}'.)");
    }

    [Fact]
    public void DatasetStats_with_an_output_that_names_an_existing_file_exits_1_naming_it()
    {
        string data = _dir.File("pairs.jsonl");
        File.WriteAllText(data, "{\"prompt\":\"abcd\",\"completion\":\"xy\"}\n");
        string file = _dir.File("stats.txt");
        File.WriteAllText(file, "keep me");

        SampleRun run = SampleProcess.DatasetStats(data, "--by", "chars", "--output", file);

        AssertOneLineFailure(run, $"error: --output {file} is a file; it must name a folder.");
    }

    [Fact]
    public void DatasetStats_with_max_0_exits_1_naming_the_max_option()
    {
        SampleRun run = SampleProcess.DatasetStats(_dir.File("any.jsonl"), "--max", "0");

        AssertOneLineFailure(run, "error: --max must be >= 1; got 0.");
    }

    [UnixFact]
    [UnsupportedOSPlatform("windows")]
    public void DatasetStats_on_an_unreadable_release_folder_exits_1_naming_the_folder()
    {
        string root = _dir.File("RACE");
        RaceFixtureFiles.WriteReleaseFile(root, "train", "middle1.txt", "Ann lives in Oslo .", [("Where ?", ["Oslo", "Rome", "Lima", "Bern"], "A")]);
        string middle = Path.Combine(root, "train", "middle");
        File.SetUnixFileMode(middle, UnixFileMode.None);
        try
        {
            SampleRun run = SampleProcess.RunUnprivileged("DatasetStats", root, "--by", "chars", "--output", _dir.File("stats"));

            AssertOneLineFailure(run, $"error: {middle}: cannot be read (Access to the path '{middle}' is denied.)");
        }
        finally
        {
            File.SetUnixFileMode(middle, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void Parallel_runs_failing_the_same_way_are_reported_once_with_their_count()
    {
        var failure = new AggregateException(Enumerable.Range(0, 3).Select(_ => new NonFiniteTrainingException(4, "Non-finite loss (NaN) at step 4; stopping.")));

        CommandLineFailure.Describe(failure).Should().Be("training stopped: Non-finite loss (NaN) at step 4; stopping. (3 parallel runs failed the same way)");
    }

    [Fact]
    public void Parallel_runs_failing_differently_report_the_first_cause_and_count_the_others()
    {
        var failure = new AggregateException(
            new IOException("No space left on device : '/out/runs/plw_1'"),
            new AggregateException(new NonFiniteTrainingException(2, "Non-finite gradient at step 2."), new NonFiniteTrainingException(3, "Non-finite gradient at step 3.")));

        CommandLineFailure.Describe(failure).Should().Be(
            "No space left on device : '/out/runs/plw_1' (and 2 more failures with other causes; --verbose shows them all)");
    }

    [Fact]
    public void A_multi_line_message_becomes_one_line_and_an_unexpected_exception_type_is_named()
    {
        CommandLineFailure.Describe(new KeyNotFoundException("no key 'prompt_loss'\n   in the metrics")).Should().Be("KeyNotFoundException: no key 'prompt_loss' in the metrics");
        CommandLineFailure.Describe(new UnauthorizedAccessException("Access to the path '/out' is denied.")).Should().Be("permission denied: Access to the path '/out' is denied.");
    }

    [Fact]
    public void Report_writes_the_stack_only_when_verbose_and_returns_1()
    {
        Exception thrown;
        try { throw new InvalidDataException("/m/model.safetensors: not a valid safetensors file: truncated."); }
        catch (Exception e) { thrown = e; }
        var quiet = new StringWriter();
        var verbose = new StringWriter();

        CommandLineFailure.Report(thrown, verbose: false, quiet).Should().Be(1);
        CommandLineFailure.Report(thrown, verbose: true, verbose).Should().Be(1);

        quiet.ToString().Should().Be("error: /m/model.safetensors: not a valid safetensors file: truncated." + Environment.NewLine);
        verbose.ToString().Should().Contain(" at ").And.EndWith("error: /m/model.safetensors: not a valid safetensors file: truncated." + Environment.NewLine);
    }

    private static void AssertOneLineFailure(SampleRun run, string lastLine)
    {
        run.ExitCode.Should().Be(1, run.Output + run.Error);
        run.ShowsStackTrace.Should().BeFalse(run.Error);
        run.LastErrorLine.Should().Be(lastLine, run.Error);
    }

    /// <summary>A checkpoint folder of a tiny word-level Llama (config.json, model.safetensors, vocab.txt), edited by <paramref name="edit"/>.</summary>
    private string ForgedCheckpoint(Action<Dictionary<string, Tensor>> edit)
    {
        TorchRuntime.EnsureLoaded();
        string dir = _dir.File("model");
        string vocab = Path.Combine(AppContext.BaseDirectory, "assets", "vocab.txt");
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = File.ReadAllLines(vocab).Length + 8, MaxPositionEmbeddings = 512, TorchDtype = "float32",
        };
        using (var model = new LlamaForCausalLM(config, CPU, ScalarType.Float32))
            LlamaCheckpoint.Save(model, dir);
        File.Copy(vocab, Path.Combine(dir, "vocab.txt"));
        string file = Path.Combine(dir, LlamaCheckpoint.SingleFileName);
        var tensors = SafeTensors.Load(file);
        edit(tensors);
        SafeTensors.Save(file, tensors);
        foreach (Tensor t in tensors.Values) t.Dispose();
        return dir;
    }
}
