using Microsoft.Extensions.Logging;
using PromptLossWeight.Readers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Tests.Readers;

public sealed class ChatJsonLinesTests : IDisposable
{
    private const string Valid =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi there\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string text)
    {
        string path = _dir.File("chat.jsonl");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Conversations_are_read_into_turns_with_case_insensitive_roles_and_extra_fields_ignored()
    {
        string path = Write(
            Valid + "\n\n" +
            "{\"id\":7,\"messages\":[{\"role\":\"USER\",\"content\":\"2+2?\",\"name\":\"x\"},{\"role\":\"Assistant\",\"content\":\"4\"}," +
            "{\"role\":\"user\",\"content\":\"and 3+3?\"},{\"role\":\"assistant\",\"content\":\"6\"}]}\r\n");

        var result = ChatJsonLines.Read(path);

        result.Skipped.Should().BeEmpty();
        result.Records.Should().HaveCount(2);
        result.Records[0].Should().Equal(new ChatTurn(TokenRole.System, "Be brief."), new ChatTurn(TokenRole.User, "Hi there"), new ChatTurn(TokenRole.Assistant, "Hello"));
        result.Records[1].Should().Equal(
            new ChatTurn(TokenRole.User, "2+2?"), new ChatTurn(TokenRole.Assistant, "4"),
            new ChatTurn(TokenRole.User, "and 3+3?"), new ChatTurn(TokenRole.Assistant, "6"));
    }

    [Fact]
    public void The_messages_field_name_is_configurable()
    {
        string path = Write("{\"conversation\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n");

        var result = ChatJsonLines.Read(path, "conversation");

        result.Records.Single().Should().Equal(new ChatTurn(TokenRole.User, "q"), new ChatTurn(TokenRole.Assistant, "a"));
        var act = () => ChatJsonLines.Read(path);
        act.Should().Throw<DataFormatException>().Where(e => e.Record == "line 1" && e.Problem.Contains("missing field 'messages'"));
    }

    [Fact]
    public void A_conversation_may_end_with_a_user_turn_and_a_system_message_may_be_empty()
    {
        string path = Write("{\"messages\":[{\"role\":\"system\",\"content\":\"\"},{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"thanks\"}]}\n");

        var result = ChatJsonLines.Read(path);

        result.Records.Single().Select(t => t.Role).Should().Equal(TokenRole.System, TokenRole.User, TokenRole.Assistant, TokenRole.User);
        result.Records.Single()[0].Content.Should().BeEmpty();
    }

    [Theory]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}", "invalid JSON")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{\"turns\":[]}", "missing field 'messages'")]
    [InlineData("{\"messages\":\"hello\"}", "field 'messages' must be an array but is String")]
    [InlineData("{\"messages\":[]}", "the conversation has no messages")]
    [InlineData("{\"messages\":[\"hi\",{\"role\":\"assistant\",\"content\":\"a\"}]}", "message 1 must be an object but is String")]
    [InlineData("{\"messages\":[{\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}", "message 1 is missing field 'role'")]
    [InlineData("{\"messages\":[{\"role\":2,\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}", "message 1: field 'role' must be a string but is Number")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"gpt\",\"content\":\"a\"}]}", "message 2: unknown role 'gpt'")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\"}]}", "message 2 is missing field 'content'")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":null},{\"role\":\"assistant\",\"content\":\"a\"}]}", "message 1: field 'content' must be a string but is Null")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\" \"},{\"role\":\"assistant\",\"content\":\"a\"}]}", "message 1: the user content is empty")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"\"}]}", "message 2: the assistant content is empty")]
    [InlineData("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"q\"}]}", "no assistant message")]
    public void A_bad_record_names_the_file_the_line_and_the_problem(string badLine, string problem)
    {
        string path = Write(Valid + "\n" + badLine + "\n" + Valid + "\n");

        var act = () => ChatJsonLines.Read(path);

        act.Should().Throw<DataFormatException>()
            .Where(e => e.FileName == path && e.Record == "line 2" && e.Problem.Contains(problem) && e.Message.Contains(path) && e.Message.Contains("line 2"));
    }

    [Fact]
    public void A_truncated_last_line_is_invalid_json_on_that_line()
    {
        string path = Write(Valid + "\n" + Valid[..40]);

        var act = () => ChatJsonLines.Read(path);

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == path && e.Record == "line 2" && e.Problem.Contains("invalid JSON"));
    }

    [Fact]
    public void Invalid_utf8_throws_naming_the_line_even_when_skipping()
    {
        string path = _dir.File("chat.jsonl");
        byte[] bad = [.. "{\"messages\":[{\"role\":\"user\",\"content\":\"q"u8.ToArray(), 0xC3, 0x28, .. "\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n"u8.ToArray()];
        File.WriteAllBytes(path, [.. System.Text.Encoding.UTF8.GetBytes(Valid + "\n"), .. bad]);

        var act = () => ChatJsonLines.Read(path, options: new DataReadOptions { BadRecords = BadRecordPolicy.Skip });

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == path && e.Record == "line 2" && e.Problem.Contains("UTF-8"));
    }

    [Fact]
    public void Bad_records_are_skipped_counted_and_logged_when_the_policy_is_skip()
    {
        string path = Write(
            "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}\n" +
            Valid + "\n" +
            "{\"messages\":[{\"role\":\"robot\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n" +
            "not json\n" +
            Valid + "\n");
        var logger = new ListLogger();

        var result = ChatJsonLines.Read(path, options: new DataReadOptions { BadRecords = BadRecordPolicy.Skip, Logger = logger });

        result.Records.Should().HaveCount(2);
        result.Skipped.Select(s => s.Record).Should().Equal("line 1", "line 3", "line 4");
        result.Skipped.Should().OnlyContain(s => s.Source == path);
        result.Skipped[0].Problem.Should().Contain("no assistant message");
        result.Skipped[1].Problem.Should().Contain("unknown role 'robot'");
        result.Skipped[2].Problem.Should().Contain("invalid JSON");
        logger.Warnings.Should().HaveCount(3).And.Contain(w => w.Contains(path) && w.Contains("line 3") && w.Contains("robot"));
    }

    [Fact]
    public void MaxRecords_keeps_the_first_valid_records()
    {
        string path = Write(string.Join('\n', Enumerable.Range(0, 5).Select(i =>
            $"{{\"messages\":[{{\"role\":\"user\",\"content\":\"q{i}\"}},{{\"role\":\"assistant\",\"content\":\"a{i}\"}}]}}")));

        var result = ChatJsonLines.Read(path, options: new DataReadOptions { MaxRecords = 2 });

        result.Records.Select(r => r[0].Content).Should().Equal("q0", "q1");
    }

    [Fact]
    public void A_missing_file_is_a_data_format_error_naming_it()
    {
        string path = _dir.File("nope.jsonl");

        var act = () => ChatJsonLines.Read(path);

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == path);
    }

    [Fact]
    public void An_empty_messages_field_name_is_rejected()
    {
        var act = () => ChatJsonLines.Read(new MemoryStream(), "input", " ");

        act.Should().Throw<ArgumentException>().WithParameterName("messagesField");
    }

    [Fact]
    public void Read_conversations_feed_the_mask_builder_and_give_per_role_weights()
    {
        string path = Write(Valid + "\n");
        var conversation = ChatJsonLines.Read(path).Records.Single();
        // One id per word: "Be brief." = 2, "Hi there" = 2, "Hello" = 1; BOS 1 and EOS 2 around them.
        var builder = new MaskBuilder(text => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => (long)w.Length + 10).ToList(),
            new MaskBuilderOptions { BosId = 1, EosId = 2 });

        MaskedExample example = builder.BuildChat(conversation)!;

        example.InputIds.Should().Equal(1L, 12L, 16L, 12L, 15L, 15L, 2L);
        example.Roles.Should().Equal(TokenRole.System, TokenRole.System, TokenRole.System, TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant);
        example.Weights(new RoleWeights(0.0, 0.25, 1.0)).Should().Equal(0f, 0f, 0f, 0.25f, 0.25f, 1f, 1f);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Warnings { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning) Warnings.Add(formatter(state, exception));
        }
    }
}
