using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PromptLossWeight.Readers;
using Parquet.Serialization;

namespace PromptLossWeight.Tests.Readers;

/// <summary>
/// Random and randomly damaged inputs: every reader either returns records or throws <see cref="DataFormatException"/>;
/// no other exception type escapes, whatever the bytes and whatever the bad-record policy.
/// </summary>
public sealed class ReaderPropertyTests
{
    private static readonly byte[] ValidJsonLines = System.Text.Encoding.UTF8.GetBytes(
        "{\"prompt\":\"Where does Tom live?\",\"completion\":\"Paris\"}\n{\"prompt\":\"2+2?\",\"completion\":\"4\",\"extra\":1}\n");
    private static readonly byte[] ValidParquet = ReaderFuzzing.Bytes(w => ParquetSerializer.SerializeAsync(
        new[] { new PromptCompletionRow { prompt = "Where does Tom live?", completion = "Paris" }, new PromptCompletionRow { prompt = "2+2?", completion = "4" } }, w)
        .GetAwaiter().GetResult());
    private static readonly byte[] ValidChat = System.Text.Encoding.UTF8.GetBytes(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n" +
        "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]}\n");

    private static readonly ReaderFuzzing.Parser[] Parsers =
    [
        (b, p) => PromptCompletionReader.ReadJsonLines(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
        (b, p) => PromptCompletionReader.ReadParquet(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
        (b, p) => ChatJsonLines.Read(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
    ];

    private static bool OnlyDataFormatErrors(byte[] bytes, BadRecordPolicy policy) => ReaderFuzzing.OnlyDataFormatErrors(Parsers, bytes, policy);

    [Property(MaxTest = 150)]
    public bool Random_bytes_give_records_or_a_data_format_error(byte[] bytes, bool skip) =>
        OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);

    [Property(MaxTest = 300)]
    public Property Damaged_files_give_records_or_a_data_format_error() =>
        Prop.ForAll(ReaderFuzzing.DamagedFiles(ValidJsonLines, ValidParquet, ValidChat), ArbMap.Default.ArbFor<bool>(), (bytes, skip) => OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw));

    [Property(MaxTest = 150)]
    public bool Random_json_lines_records_give_records_or_a_data_format_error(string?[] prompts, string?[] completions, bool skip) =>
        OnlyDataFormatErrors(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', prompts.Select((p, i) =>
            System.Text.Json.JsonSerializer.Serialize(new { prompt = p, completion = completions.ElementAtOrDefault(i) })))),
            skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);

    /// <summary>Mostly known role names (in any case), sometimes the random string itself.</summary>
    private static string? ChatRole(string? random) => ((random?.Length ?? 0) % 5) switch
    {
        0 => "user",
        1 => "System",
        2 => "ASSISTANT",
        3 => "assistant",
        _ => random,
    };

    [Property(MaxTest = 150)]
    public bool Random_chat_records_give_records_or_a_data_format_error(string?[] roles, string?[] contents, bool skip) =>
        OnlyDataFormatErrors(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', roles.Select((r, i) =>
            System.Text.Json.JsonSerializer.Serialize(new { messages = contents.Take(i + 1).Select((c, j) => new { role = ChatRole(j % 2 == 0 ? r : c), content = c }) })))),
            skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);

#pragma warning disable IDE1006 // Column names as in the files.
    private sealed class PromptCompletionRow
    {
        public string prompt { get; set; } = "";
        public string completion { get; set; } = "";
    }
#pragma warning restore IDE1006
}
