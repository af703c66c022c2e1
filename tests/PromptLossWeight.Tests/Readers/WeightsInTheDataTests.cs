using Parquet.Serialization;
using PromptLossWeight.Masking;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Tests.Readers;

/// <summary>
/// Weights in the data: an optional <c>weight</c> on chat messages and on chat records, an optional weight field or
/// column on prompt/completion records. Weights are finite and ≥ 0 (a negative or non-numeric weight is a bad record
/// named by file, line or row, and field); an example with nothing to train on is a counted skip with a warning.
/// </summary>
public sealed class WeightsInTheDataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string name, params string[] lines)
    {
        string path = _dir.File(name);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    [Fact]
    public void A_message_weight_times_the_example_weight_becomes_the_turn_weight()
    {
        string path = Write("chat.jsonl",
            "{\"weight\":0.5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\",\"weight\":0},"
            + "{\"role\":\"user\",\"content\":\"Again\"},{\"role\":\"assistant\",\"content\":\"<think>hm</think>Hello again\",\"weight\":3,\"thinking_weight\":0.25}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}");

        var records = ChatJsonLines.Read(path).Records;

        records[0].Select(t => t.Weight).Should().Equal(0.5, 0.0, 0.5, 1.5);
        records[0].Select(t => t.ThinkingWeight).Should().Equal(null, null, null, 0.25);
        records[1].Select(t => t.Weight).Should().Equal(1.0, 1.0);
    }

    [Theory]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"weight\":-1}]}",
        "message 2: field 'weight' must be a finite number >= 0 but is -1")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\",\"weight\":\"1\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}",
        "message 1: field 'weight' must be a number but is String")]
    [InlineData("{\"weight\":-0.5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}",
        "field 'weight' must be a finite number >= 0 but is -0.5")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"thinking_weight\":-2}]}",
        "message 2: field 'thinking_weight' must be a finite number >= 0 but is -2")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"weight\":1e400}]}",
        "message 2: field 'weight' must be a finite number >= 0 but is 1e400")]
    public void A_bad_chat_weight_is_one_line_naming_file_line_message_and_field(string record, string problem)
    {
        string path = Write("chat.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}", record);

        var act = () => ChatJsonLines.Read(path);

        act.Should().Throw<DataFormatException>().Which.Message.Should().Be($"{path}, line 2: {problem}");
    }

    [Fact]
    public void A_conversation_whose_assistant_messages_all_weigh_zero_is_a_counted_skip_with_a_warning_under_either_policy()
    {
        string path = Write("chat.jsonl",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\",\"weight\":0}]}",
            "{\"weight\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Yo\"}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\",\"weight\":0},{\"role\":\"assistant\",\"content\":\"Yo\"}]}");
        var logger = new ListLogger();

        var result = ChatJsonLines.Read(path, options: new DataReadOptions { BadRecords = BadRecordPolicy.Throw, Logger = logger });

        result.Records.Should().ContainSingle("a user message of weight 0 still leaves the answer to train on");
        result.Skipped.Select(s => (s.Record, s.Problem)).Should().Equal(
            ("line 1", "every assistant message has weight 0 (nothing to train on)"),
            ("line 2", "the example's weight is 0 (nothing to train on)"));
        logger.Warnings.Should().HaveCount(2).And.OnlyContain(w => w.Contains("nothing to train on"));
    }

    [Fact]
    public void A_prompt_completion_weight_field_is_optional_and_read_when_present()
    {
        string path = Write("pc.jsonl",
            "{\"prompt\":\"p1\",\"completion\":\"c1\",\"weight\":2.5}",
            "{\"prompt\":\"p2\",\"completion\":\"c2\"}",
            "{\"prompt\":\"p3\",\"completion\":\"c3\",\"w\":4}");

        PromptCompletionReader.ReadJsonLines(path).Records.Select(r => r.Weight).Should().Equal(2.5, 1.0, 1.0);
        PromptCompletionReader.ReadJsonLines(path, new PromptCompletionFields(Weight: "w")).Records.Select(r => r.Weight).Should().Equal(1.0, 1.0, 4.0);
        PromptCompletionReader.ReadJsonLines(path, new PromptCompletionFields(Weight: null)).Records.Select(r => r.Weight).Should().Equal(1.0, 1.0, 1.0);
    }

    [Fact]
    public void A_negative_prompt_completion_weight_is_rejected_and_a_zero_weight_is_a_counted_skip()
    {
        string bad = Write("bad.jsonl", "{\"prompt\":\"p\",\"completion\":\"c\"}", "{\"prompt\":\"p\",\"completion\":\"c\",\"weight\":-3}");
        string zero = Write("zero.jsonl", "{\"prompt\":\"p\",\"completion\":\"c\",\"weight\":0}", "{\"prompt\":\"p\",\"completion\":\"c\"}");
        var logger = new ListLogger();

        var act = () => PromptCompletionReader.ReadJsonLines(bad);
        var result = PromptCompletionReader.ReadJsonLines(zero, options: new DataReadOptions { Logger = logger });

        act.Should().Throw<DataFormatException>().Which.Message.Should().Be($"{bad}, line 2: field 'weight' must be a finite number >= 0 but is -3");
        result.Records.Should().ContainSingle();
        result.Skipped.Should().ContainSingle().Which.Record.Should().Be("line 1");
        logger.Warnings.Should().ContainSingle().Which.Should().Contain("weight is 0");
    }

    [Fact]
    public async Task A_parquet_weight_column_is_read_by_name_and_a_negative_cell_names_the_row()
    {
        string good = _dir.File("good.parquet"), bad = _dir.File("bad.parquet"), none = _dir.File("none.parquet");
        await ParquetSerializer.SerializeAsync(new[] { new WeightedRow { prompt = "a", completion = "b", weight = 0.5 }, new WeightedRow { prompt = "c", completion = "d", weight = 2 } }, good);
        await ParquetSerializer.SerializeAsync(new[] { new WeightedRow { prompt = "a", completion = "b", weight = 1 }, new WeightedRow { prompt = "c", completion = "d", weight = -1 } }, bad);
        await ParquetSerializer.SerializeAsync(new[] { new PlainRow { prompt = "a", completion = "b" } }, none);

        PromptCompletionReader.ReadParquet(good).Records.Select(r => r.Weight).Should().Equal(0.5, 2.0);
        PromptCompletionReader.ReadParquet(none).Records.Single().Weight.Should().Be(1.0, "a file without the weight column weighs every example 1");
        var act = () => PromptCompletionReader.ReadParquet(bad);
        act.Should().Throw<DataFormatException>().Which.Message.Should().Be($"{bad}, row 2: column 'weight' must be a finite number >= 0 but is -1");
    }

    [Fact]
    public void Read_weights_reach_the_masks_multiplying_the_prompt_loss_weight()
    {
        string path = Write("chat.jsonl",
            "{\"weight\":2,\"messages\":[{\"role\":\"user\",\"content\":\"ab\"},{\"role\":\"assistant\",\"content\":\"cd\",\"weight\":0.5}]}");
        var builder = new MaskBuilder(text => text.Select(c => (long)c).ToArray());

        var example = builder.BuildChat(ChatJsonLines.Read(path).Records.Single())!;

        example.Weights(0.1).Should().Equal(0.2f, 0.2f, 1f, 1f); // user: PLW 0.1 × 2; assistant: 1 × (0.5 × 2)
    }

    [Fact]
    public void The_readmes_example_records_read_as_it_says()
    {
        DirectoryInfo? root = new(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "PromptLossWeight.sln"))) root = root.Parent;
        root.Should().NotBeNull("the tests run inside the repository");
        string readme = File.ReadAllText(Path.Combine(root!.FullName, "README.md"));
        var block = System.Text.RegularExpressions.Regex.Match(readme, "```jsonl\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline);
        block.Success.Should().BeTrue("the Weighting tokens section shows the data formats");
        string[] lines = block.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        var chat = ChatJsonLines.Read(Write("readme-chat.jsonl", lines[0])).Records.Single();
        var pair = PromptCompletionReader.ReadJsonLines(Write("readme-pc.jsonl", lines[1])).Records.Single();

        chat.Select(t => t.Weight).Should().Equal(2.0, 0.0, 2.0, 2.0);
        chat[^1].ThinkingWeight.Should().Be(0.1);
        pair.Should().Be(new PromptCompletionExample("Translate: cat", " chat") { Weight = 0.5 });
    }

#pragma warning disable IDE1006
    private sealed class WeightedRow
    {
        public string? prompt { get; set; }
        public string? completion { get; set; }
        public double weight { get; set; }
    }

    private sealed class PlainRow
    {
        public string? prompt { get; set; }
        public string? completion { get; set; }
    }
#pragma warning restore IDE1006
}
