using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Data;

/// <summary>
/// Random and randomly damaged inputs: every RACE reader either returns records or throws <see cref="DataFormatException"/>;
/// no other exception type escapes, whatever the bytes and whatever the bad-record policy (the core readers have the same
/// properties in the core tests).
/// </summary>
public sealed class ReaderPropertyTests
{
    private static readonly byte[] ValidJsonLines = ReaderFuzzing.Bytes(w => RaceJsonLines.Write(w, RaceFixtures.Examples));
    private static readonly byte[] ValidParquet = ReaderFuzzing.Bytes(w => RaceParquet.Write(w, RaceFixtures.Examples));
    private static readonly byte[] ValidRelease = System.Text.Encoding.UTF8.GetBytes(
        RaceFixtures.ReleaseJson("high1.txt", "Tom lives in Paris.", [("Where?", ["a", "b", "c", "d"], "B"), ("Who?", ["a", "b", "c", "d"], "A")]));
    private static readonly ReaderFuzzing.Parser[] Parsers =
    [
        (b, p) => RaceJsonLines.Read(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
        (b, p) => RaceParquet.Read(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
        (b, p) => RaceOriginalRelease.ReadFile(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
    ];

    private static bool OnlyDataFormatErrors(byte[] bytes, BadRecordPolicy policy) => ReaderFuzzing.OnlyDataFormatErrors(Parsers, bytes, policy);

    [Property(MaxTest = 150)]
    public bool Random_bytes_give_records_or_a_data_format_error(byte[] bytes, bool skip) =>
        OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);

    [Property(MaxTest = 300)]
    public Property Damaged_files_give_records_or_a_data_format_error() =>
        Prop.ForAll(ReaderFuzzing.DamagedFiles(ValidJsonLines, ValidParquet, ValidRelease), ArbMap.Default.ArbFor<bool>(), (bytes, skip) => OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw));

    [Property(MaxTest = 150)]
    public bool Random_json_lines_records_give_records_or_a_data_format_error(string[] article, string[] options, string answer) =>
        OnlyDataFormatErrors(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', article.Select((a, i) =>
            System.Text.Json.JsonSerializer.Serialize(new { example_id = "x", article = a, question = a, options = options.Take(i), answer })))),
            BadRecordPolicy.Skip);
}
