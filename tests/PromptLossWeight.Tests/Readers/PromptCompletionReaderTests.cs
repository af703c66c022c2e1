using Parquet.Serialization;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Tests.Readers;

public sealed class PromptCompletionReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Json_lines_are_read_with_configurable_field_names_and_extra_fields_ignored()
    {
        string path = _dir.File("data.jsonl");
        File.WriteAllText(path, "{\"q\":\"What is 2+2?\",\"a\":\"4\",\"extra\":1}\n\n{\"q\":\"Hi\",\"a\":\"Hello\"}\n");

        var result = PromptCompletionReader.ReadJsonLines(path, new PromptCompletionFields("q", "a"));

        result.Records.Should().Equal(new PromptCompletionExample("What is 2+2?", "4"), new PromptCompletionExample("Hi", "Hello"));
        result.Skipped.Should().BeEmpty();
    }

    [Fact]
    public void A_missing_field_names_the_file_the_line_and_the_field()
    {
        string path = _dir.File("data.jsonl");
        File.WriteAllText(path, "{\"prompt\":\"p\",\"completion\":\"c\"}\n{\"prompt\":\"p\"}\n");

        var act = () => PromptCompletionReader.ReadJsonLines(path);

        act.Should().Throw<DataFormatException>()
            .Where(e => e.FileName == path && e.Record == "line 2" && e.Problem.Contains("'completion'") && e.Message.Contains(path));
    }

    [Fact]
    public void Empty_completions_are_skipped_and_counted_when_the_policy_is_skip()
    {
        string path = _dir.File("data.jsonl");
        File.WriteAllText(path, "{\"prompt\":\"p\",\"completion\":\"  \"}\n{\"prompt\":\"p2\",\"completion\":\"c2\"}\n{\"prompt\":\"\",\"completion\":\"c3\"}\n");

        var result = PromptCompletionReader.ReadJsonLines(path, options: new DataReadOptions { BadRecords = BadRecordPolicy.Skip });

        result.Records.Should().Equal(new PromptCompletionExample("p2", "c2"));
        result.Skipped.Select(s => s.Record).Should().Equal("line 1", "line 3");
        result.Skipped[0].Problem.Should().Contain("empty");
    }

    [Fact]
    public void Invalid_utf8_throws_naming_the_line_even_when_skipping()
    {
        string path = _dir.File("data.jsonl");
        byte[] good = "{\"prompt\":\"p\",\"completion\":\"c\"}\n"u8.ToArray();
        byte[] bad = [.. "{\"prompt\":\"p"u8.ToArray(), 0xC3, 0x28, .. "\",\"completion\":\"c\"}\n"u8.ToArray()];
        File.WriteAllBytes(path, [.. good, .. bad]);

        var act = () => PromptCompletionReader.ReadJsonLines(path, options: new DataReadOptions { BadRecords = BadRecordPolicy.Skip });

        act.Should().Throw<DataFormatException>().Where(e => e.Record == "line 2" && e.Problem.Contains("UTF-8"));
    }

    [Fact]
    public void A_truncated_last_line_is_invalid_json_on_that_line()
    {
        string path = _dir.File("data.jsonl");
        File.WriteAllText(path, "{\"prompt\":\"p\",\"completion\":\"c\"}\n{\"prompt\":\"p\",\"compl");

        var act = () => PromptCompletionReader.ReadJsonLines(path);

        act.Should().Throw<DataFormatException>().Where(e => e.Record == "line 2" && e.Problem.Contains("invalid JSON"));
    }

    [Fact]
    public void MaxRecords_keeps_the_first_valid_records()
    {
        string path = _dir.File("data.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, 10).Select(i => $"{{\"prompt\":\"p{i}\",\"completion\":\"c{i}\"}}"));

        var result = PromptCompletionReader.ReadJsonLines(path, options: new DataReadOptions { MaxRecords = 3 });

        result.Records.Select(r => r.Prompt).Should().Equal("p0", "p1", "p2");
    }

    [Fact]
    public void A_missing_file_is_a_data_format_error_naming_it()
    {
        string path = _dir.File("nope.jsonl");

        var act = () => PromptCompletionReader.ReadJsonLines(path);

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == path);
    }

    [Fact]
    public void Parquet_columns_are_read_by_name()
    {
        string path = _dir.File("data.parquet");
        WriteParquet(path, [new Row { instruction = "Say hi", output = "hi", other = 3 }, new Row { instruction = "Count", output = "1 2 3" }]);

        var result = PromptCompletionReader.ReadParquet(path, new PromptCompletionFields("instruction", "output"));

        result.Records.Should().Equal(new PromptCompletionExample("Say hi", "hi"), new PromptCompletionExample("Count", "1 2 3"));
    }

    [Fact]
    public void A_parquet_row_with_a_null_cell_names_the_row()
    {
        string path = _dir.File("data.parquet");
        WriteParquet(path, [new Row { instruction = "a", output = "b" }, new Row { instruction = "a", output = null }]);

        var act = () => PromptCompletionReader.ReadParquet(path, new PromptCompletionFields("instruction", "output"));

        act.Should().Throw<DataFormatException>().Where(e => e.Record == "row 2" && e.Problem.Contains("'output'"));
    }

    [Fact]
    public void A_parquet_file_without_the_column_lists_the_columns_it_has()
    {
        string path = _dir.File("data.parquet");
        WriteParquet(path, [new Row { instruction = "a", output = "b" }]);

        var act = () => PromptCompletionReader.ReadParquet(path);

        act.Should().Throw<DataFormatException>().Where(e => e.Problem.Contains("'prompt'") && e.Problem.Contains("instruction"));
    }

    [Fact]
    public void A_truncated_parquet_file_is_reported_as_unreadable()
    {
        string path = _dir.File("data.parquet");
        WriteParquet(path, [new Row { instruction = "a", output = "b" }]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var act = () => PromptCompletionReader.ReadParquet(path, new PromptCompletionFields("instruction", "output"));

        act.Should().Throw<DataFormatException>().Where(e => e.FileName == path && e.Problem.Contains("PAR1") && e.Message.Contains(path));
    }

    private static void WriteParquet(string path, Row[] rows) => ParquetSerializer.SerializeAsync(rows, path).GetAwaiter().GetResult();

#pragma warning disable IDE1006
    private sealed class Row
    {
        public string? instruction { get; set; }
        public string? output { get; set; }
        public int other { get; set; }
    }
#pragma warning restore IDE1006
}
